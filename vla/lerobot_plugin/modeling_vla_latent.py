"""`VLALatentPolicy`: our VLAPolicy network behind LeRobot's PreTrainedPolicy interface.

LeRobot's processors have already normalised state/action with the dataset stats, so the wrapped
network runs on normalised tensors here and its own normalisation is left at identity.
"""

from collections import deque

import torch
from lerobot.policies.pretrained import PreTrainedPolicy
from lerobot.utils.constants import ACTION, OBS_STATE
from torch import Tensor

from .configuration_vla_latent import VLALatentConfig


def build_network(config: VLALatentConfig) -> torch.nn.Module:
    """The VLAPolicy network for this config: from one of our checkpoints, or a fresh tiny backbone."""
    return _DevNet(config)


class _DevNet(torch.nn.Module):
    """INTERIM: a small conv + MLP chunk predictor used until vla.policy.VLAPolicy lands (same call signature)."""

    def __init__(self, config):
        super().__init__()
        self.h, self.size = config.chunk_size, config.image_size
        self.conv = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 4, 4), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.head = torch.nn.Linear(8 + 4, 4 * self.h)

    def predict_action_chunk(self, image, state, instruction):
        image = torch.nn.functional.interpolate(image, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.head(torch.cat([self.conv(image), state], -1)).view(-1, self.h, 4)

    def action_loss(self, image, state, instruction, actions, action_is_pad=None):
        err = (self.predict_action_chunk(image, state, instruction) - actions) ** 2
        loss = err.mean()
        return loss, {"mse": loss.detach()}


class VLALatentPolicy(PreTrainedPolicy):
    config_class = VLALatentConfig
    name = "vla_latent"

    def __init__(self, config: VLALatentConfig, **kwargs):
        super().__init__(config)
        config.validate_features()
        self.model = build_network(config)
        self.reset()

    def reset(self):
        """Called by LeRobot at every environment reset: drop the actions left from the last chunk."""
        self._action_queue = deque([], maxlen=self.config.n_action_steps)

    def get_optim_params(self) -> list[Tensor]:
        # Frozen backbone weights (LoRA) stay out of the optimiser.
        return [p for p in self.parameters() if p.requires_grad]

    def _inputs(self, batch: dict) -> dict:
        task = batch.get("task")
        n = batch[OBS_STATE].shape[0]
        if task is None:
            task = [""] * n
        elif isinstance(task, str):
            task = [task] * n
        return {"image": batch[self.config.image_key], "state": batch[OBS_STATE], "instruction": list(task)}

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict]:
        inputs = self._inputs(batch)
        pad = batch.get(f"{ACTION}_is_pad")
        loss, logs = self.model.action_loss(**inputs, actions=batch[ACTION], action_is_pad=pad)
        return loss, {k: float(v) for k, v in logs.items()}

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Tensor], **kwargs) -> Tensor:
        self.eval()
        return self.model.predict_action_chunk(**self._inputs(batch))

    @torch.no_grad()
    def select_action(self, batch: dict[str, Tensor], **kwargs) -> Tensor:
        self.eval()
        if not self._action_queue:
            chunk = self.predict_action_chunk(batch)[:, : self.config.n_action_steps]
            self._action_queue.extend(chunk.transpose(0, 1))  # queue of (B, action_dim)
        return self._action_queue.popleft()
