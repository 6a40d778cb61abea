"""LeRobot config for our VLA policy, registered as policy type `vla_latent`.

One config: `VLALatentConfig` is LeRobot's PreTrainedConfig *and* our PolicyConfig, so every policy field and
default (backbone, image size, chunk, pooling, LoRA, augmentation) is the one in vla/policy/configuration.py,
settable as `lerobot-train --policy.<field>=...`. The sizes and cameras come from the dataset's features.
LeRobot resolves the rest by naming convention (see lerobot/policies/factory.py):
`VLALatentConfig` in `configuration_vla_latent` -> `VLALatentPolicy` in `modeling_vla_latent`
and `make_vla_latent_pre_post_processors` in `processor_vla_latent`.
"""

from dataclasses import dataclass, field, fields

from lerobot.configs import FeatureType, NormalizationMode, PreTrainedConfig
from lerobot.optim import AdamWConfig, CosineDecayWithWarmupSchedulerConfig
from lerobot.utils.constants import ACTION, OBS_STATE

from vla.policy.configuration import PolicyConfig

POLICY_TYPE = "vla_latent"
# PolicyConfig's normalisation modes as LeRobot's: its processors normalise state and action, not the network.
NORMALIZATION_MODES = {"mean_std": NormalizationMode.MEAN_STD, "min_max": NormalizationMode.MIN_MAX}


@PreTrainedConfig.register_subclass(POLICY_TYPE)
@dataclass
class VLALatentConfig(PreTrainedConfig, PolicyConfig):
    # Action chunking: the network predicts `chunk_size` future actions (PolicyConfig); `n_action_steps` of them
    # are executed.
    n_action_steps: int = 4

    # Images are left un-normalised by the processor: the network resizes them and applies its own image
    # normalisation, so the same weights see the same pixels under lerobot-eval and under our runtime. State and
    # action follow PolicyConfig.normalization (set in __post_init__).
    normalization_mapping: dict[str, NormalizationMode] = field(default_factory=dict)

    # `init_from` starts from one of our checkpoints (vla-pretrain / vla-finetune output); otherwise `backbone`
    # (a local dir, a hub id, or "tiny" for a random-initialised tiny SmolVLM whose tokenizer is built from
    # the dataset's task strings).
    init_from: str = ""

    # Training presets (used when lerobot-train runs with --use_policy_training_preset=true, the default).
    optimizer_lr: float = 3e-4
    optimizer_weight_decay: float = 1e-4
    optimizer_grad_clip_norm: float = 1.0
    scheduler_warmup_steps: int = 10
    scheduler_decay_steps: int = 10_000
    scheduler_decay_lr: float = 3e-5

    def __post_init__(self):
        PreTrainedConfig.__post_init__(self)
        PolicyConfig.__post_init__(self)
        mode = NORMALIZATION_MODES[self.normalization]
        mapping = {"VISUAL": NormalizationMode.IDENTITY, "STATE": mode, "ACTION": mode}
        given = {k: NormalizationMode(v) for k, v in (self.normalization_mapping or {}).items()}
        if given and given != mapping:  # a saved config carries the mapping its `normalization` made
            shown = {k: v.value for k, v in given.items()}
            raise ValueError(f"vla_latent: normalization_mapping {shown} is not what normalization="
                             f"{self.normalization!r} gives; set `normalization` (mean_std | min_max) alone: "
                             "images are never normalised by the processor")
        self.normalization_mapping = mapping
        if not 1 <= self.n_action_steps <= self.chunk_size:
            raise ValueError(
                f"vla_latent: n_action_steps must be in [1, chunk_size={self.chunk_size}], got {self.n_action_steps}"
            )
        if self.n_obs_steps != 1:
            raise ValueError(f"vla_latent: only n_obs_steps=1 is supported, got {self.n_obs_steps}")

    def policy_config(self) -> PolicyConfig:
        """The network's PolicyConfig: these fields, with the sizes and cameras of the dataset's features."""
        shared = {f.name: getattr(self, f.name) for f in fields(PolicyConfig)}
        return PolicyConfig(**{**shared, "action_dim": self.output_features[ACTION].shape[0],
                               "state_dim": self.input_features[OBS_STATE].shape[0],
                               "image_keys": list(self.image_features)})

    def validate_features(self) -> None:
        if not self.image_features:
            raise ValueError(
                f"vla_latent needs at least one camera input feature (observation.image*), got none among inputs "
                f"{sorted(self.input_features)}"
            )
        if OBS_STATE not in self.input_features:
            raise ValueError(f"vla_latent needs '{OBS_STATE}' among the inputs, got {sorted(self.input_features)}")
        if ACTION not in self.output_features or self.output_features[ACTION].type is not FeatureType.ACTION:
            raise ValueError(f"vla_latent needs an '{ACTION}' output feature, got {sorted(self.output_features)}")

    def get_optimizer_preset(self) -> AdamWConfig:
        return AdamWConfig(lr=self.optimizer_lr, weight_decay=self.optimizer_weight_decay,
                           grad_clip_norm=self.optimizer_grad_clip_norm)

    def get_scheduler_preset(self) -> CosineDecayWithWarmupSchedulerConfig:
        return CosineDecayWithWarmupSchedulerConfig(
            peak_lr=self.optimizer_lr, decay_lr=self.scheduler_decay_lr,
            num_warmup_steps=self.scheduler_warmup_steps, num_decay_steps=self.scheduler_decay_steps,
        )

    @property
    def observation_delta_indices(self) -> None:
        return None

    @property
    def action_delta_indices(self) -> list[int]:
        # The dataset returns action[t : t + chunk_size] for every frame (delta_timestamps), padded at episode end.
        return list(range(self.chunk_size))

    @property
    def reward_delta_indices(self) -> None:
        return None
