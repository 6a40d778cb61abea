"""`VLALatentPolicy`: our VLAPolicy network behind LeRobot's PreTrainedPolicy interface.

LeRobot's processors normalise state/action with the dataset stats (processor_vla_latent), so the
wrapped VLAPolicy runs with identity stats here. A checkpoint directory holds LeRobot's files
(config.json, model.safetensors, processors) plus `vla/`, a full VLAPolicy checkpoint that carries
what LeRobot's config cannot: the backbone architecture, the tokenizer and the LoRA layout.
"""

import logging
import tempfile
from pathlib import Path

import torch
from lerobot.configs import PreTrainedConfig
from lerobot.policies.pretrained import PreTrainedPolicy
from lerobot.utils.constants import ACTION, OBS_STATE
from torch import Tensor

from vla.policy.backbone import build_tiny_backbone
from vla.policy.configuration import PolicyConfig
from vla.policy.modeling import VLAPolicy
from vla.runtime.action_queue import ActionQueue

from .configuration_vla_latent import POLICY_TYPE, VLALatentConfig

log = logging.getLogger(__name__)

VLA_SUBDIR = "vla"


def identity_stats(dim: int) -> dict[str, list[float]]:
    # mean 0 / std 1 and min -1 / max 1 are identities under both of VLAPolicy's normalisation modes.
    return {"mean": [0.0] * dim, "std": [1.0] * dim, "min": [-1.0] * dim, "max": [1.0] * dim}


def _fresh_network(config: VLALatentConfig, tasks: list[str]) -> VLAPolicy:
    pcfg = config.policy_config()
    if config.init_from:
        net = VLAPolicy.from_pretrained(config.init_from)
        saved = net.config
        if (saved.chunk_size, saved.action_dim, saved.state_dim) != (pcfg.chunk_size, pcfg.action_dim, pcfg.state_dim):
            raise ValueError(
                f"vla_latent: init_from={config.init_from} was saved with chunk_size/action_dim/state_dim "
                f"{saved.chunk_size}/{saved.action_dim}/{saved.state_dim}, the dataset needs "
                f"{pcfg.chunk_size}/{pcfg.action_dim}/{pcfg.state_dim}")
    elif config.backbone == "tiny":
        net = _tiny_network(pcfg, tasks)
    else:
        net = VLAPolicy.from_backbone(pcfg)
    net.apply_lora()
    return net


def _tiny_network(pcfg: PolicyConfig, tasks: list[str]) -> VLAPolicy:
    """A fresh policy on the tiny random backbone; its tokenizer knows every MetaWorld instruction + `tasks`.

    transformers only writes `save_pretrained` files on rank 0 of an initialised process group, so under
    DDP rank 0 builds the backbone and every rank loads rank 0's copy (DDP then syncs the weights anyway).
    """
    from vla.data.metaworld_env import task_instructions

    texts = task_instructions() + tasks
    dist = torch.distributed
    multi = dist.is_available() and dist.is_initialized()
    with tempfile.TemporaryDirectory(prefix="vla_tiny_backbone_") as tmp:
        where = [tmp]
        if multi:
            dist.broadcast_object_list(where, src=0)
        if not multi or dist.get_rank() == 0:
            build_tiny_backbone(where[0], texts=texts)
        if multi:
            dist.barrier()
        net = VLAPolicy.from_backbone(pcfg, where[0])
        if multi:
            dist.barrier()  # rank 0 removes its directory only after every rank has loaded from it
    return net


def _task_strings(dataset_meta) -> list[str]:
    tasks = getattr(dataset_meta, "tasks", None)
    return [] if tasks is None else [str(t) for t in tasks.index]


class VLALatentPolicy(PreTrainedPolicy):
    config_class = VLALatentConfig
    name = "vla_latent"

    def __init__(self, config: VLALatentConfig, dataset_meta=None, vla_checkpoint: str | Path | None = None,
                 **kwargs):
        super().__init__(config)
        config.validate_features()
        if vla_checkpoint is not None:
            self.model = VLAPolicy.from_pretrained(vla_checkpoint)
        else:
            self.model = _fresh_network(config, _task_strings(dataset_meta))
        net_cfg = self.model.config
        self.model.processor.stats = {"state": identity_stats(net_cfg.state_dim),
                                      "action": identity_stats(net_cfg.action_dim)}
        self.reset()

    # ---- checkpoints: LeRobot's files + a VLAPolicy checkpoint for the parts LeRobot does not store ----
    def _save_pretrained(self, save_directory: Path, state_dict: dict[str, Tensor] | None = None) -> None:
        super()._save_pretrained(save_directory, state_dict=state_dict)
        self.model.save_pretrained(Path(save_directory) / VLA_SUBDIR)

    @classmethod
    def from_pretrained(cls, pretrained_name_or_path, *, config: PreTrainedConfig | None = None, **kwargs):
        path = Path(pretrained_name_or_path)
        if not path.is_dir():
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(str(pretrained_name_or_path), revision=kwargs.get("revision")))
        if not (path / VLA_SUBDIR / "config.json").is_file():
            raise FileNotFoundError(f"{path / VLA_SUBDIR / 'config.json'} is missing: {path} is not a vla_latent "
                                    "checkpoint (expected LeRobot's files plus a vla/ VLAPolicy checkpoint)")
        kwargs.pop("dataset_meta", None)
        kwargs.pop("dataset_stats", None)
        # strict: every weight in model.safetensors must fit the rebuilt network (no silent re-initialisation).
        kwargs["strict"] = True
        return super().from_pretrained(path, config=config, vla_checkpoint=path / VLA_SUBDIR, **kwargs)

    # ---- LeRobot policy interface ------------------------------------------------------------------
    def reset(self):
        """Called by LeRobot at every environment reset: drop the actions left from the last chunk."""
        self._action_queue = ActionQueue(maxlen=self.config.n_action_steps)

    def get_optim_params(self) -> list[Tensor]:
        # With LoRA the frozen backbone weights stay out of the optimiser.
        return [p for p in self.parameters() if p.requires_grad]

    def _inputs(self, batch: dict) -> dict:
        n = batch[OBS_STATE].shape[0]
        task = batch.get("task", "")
        tasks = [task] * n if isinstance(task, str) else list(task)
        return {"images": [batch[key] for key in self.config.image_features], "state": batch[OBS_STATE],
                "instruction": tasks}

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict]:
        inputs = self._inputs(batch)
        inputs["action"] = batch[ACTION]
        if f"{ACTION}_is_pad" in batch:
            inputs["action_is_pad"] = batch[f"{ACTION}_is_pad"]
        return self.model(inputs)

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Tensor], **kwargs) -> Tensor:
        self.eval()
        return self.model.predict_action_chunk(self._inputs(batch))

    @torch.no_grad()
    def select_action(self, batch: dict[str, Tensor], **kwargs) -> Tensor:
        self.eval()
        if len(self._action_queue) == 0:
            chunk = self.predict_action_chunk(batch)[:, : self.config.n_action_steps]
            self._action_queue.extend(chunk.transpose(0, 1))  # queue of (B, action_dim)
        return self._action_queue.pop()


def is_lerobot_checkpoint(path: str | Path) -> bool:
    """A `lerobot-train` checkpoint of this policy type (its pretrained_model directory)."""
    import json

    config = Path(path) / "config.json"
    return config.is_file() and json.loads(config.read_text()).get("type") == POLICY_TYPE


def lerobot_checkpoint_hash(path: str | Path) -> str:
    """Identity of a lerobot-train checkpoint: every file in it (config, weights, processors and their stats)."""
    import hashlib

    from vla.core.checkpoint import file_sha256

    h = hashlib.sha256()
    for file in sorted(p for p in Path(path).iterdir() if p.is_file()):
        h.update(f"{file.name}:{file_sha256(file)}".encode())
    return h.hexdigest()[:16]


class LeRobotNormalization:
    """State in, action chunk out through the processors a lerobot-train checkpoint saved: LeRobot's own
    normalisation with the dataset's stats, for a runtime that drives the checkpoint's network directly."""

    def __init__(self, checkpoint: str | Path, config: VLALatentConfig):
        from lerobot.policies.factory import make_pre_post_processors

        self.pre, self.post = make_pre_post_processors(config, pretrained_path=str(checkpoint))

    def state(self, state: Tensor) -> Tensor:
        return self.pre({OBS_STATE: state})[OBS_STATE]

    def action(self, chunk: Tensor) -> Tensor:
        return self.post(chunk)


def load_lerobot_checkpoint(checkpoint: str | Path) -> tuple[VLAPolicy, LeRobotNormalization]:
    """The network of a lerobot-train checkpoint (identity stats inside) and LeRobot's normalisation around it."""
    policy = VLALatentPolicy.from_pretrained(checkpoint)
    return policy.model, LeRobotNormalization(checkpoint, policy.config)
