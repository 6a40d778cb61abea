"""LeRobot config for our VLA policy, registered as policy type `vla_latent`.

LeRobot resolves the rest by naming convention (see lerobot/policies/factory.py):
`VLALatentConfig` in `configuration_vla_latent` -> `VLALatentPolicy` in `modeling_vla_latent`
and `make_vla_latent_pre_post_processors` in `processor_vla_latent`.
"""

from dataclasses import dataclass, field

from lerobot.configs import FeatureType, NormalizationMode, PreTrainedConfig
from lerobot.optim import AdamWConfig, CosineDecayWithWarmupSchedulerConfig
from lerobot.utils.constants import ACTION, OBS_STATE

from vla.policy.configuration import PolicyConfig

POLICY_TYPE = "vla_latent"


@PreTrainedConfig.register_subclass(POLICY_TYPE)
@dataclass
class VLALatentConfig(PreTrainedConfig):
    # Action chunking: the network predicts `chunk_size` future actions; `n_action_steps` of them are executed.
    chunk_size: int = 4
    n_action_steps: int = 4

    # Images are left un-normalised by the processor: the network resizes them and applies its own image
    # normalisation, so the same weights see the same pixels under lerobot-eval and under our runtime.
    normalization_mapping: dict[str, NormalizationMode] = field(
        default_factory=lambda: {
            "VISUAL": NormalizationMode.IDENTITY,
            "STATE": NormalizationMode.MEAN_STD,
            "ACTION": NormalizationMode.MEAN_STD,
        }
    )

    # The wrapped VLAPolicy (vla.policy.PolicyConfig). `init_from` starts from one of our checkpoints
    # (vla-pretrain / vla-finetune output); otherwise `backbone` (a local dir, a hub id, or "tiny" for a
    # random-initialised tiny SmolVLM whose tokenizer is built from the dataset's task strings).
    init_from: str = ""
    backbone: str = "tiny"
    image_size: int = 64  # every camera image is resized to image_size x image_size inside the policy
    head_hidden: int = 256
    full_finetune: bool = False  # False: LoRA on the backbone (peft), backbone weights frozen
    lora_r: int = PolicyConfig.lora_r  # one default for both faces of the policy

    # Training presets (used when lerobot-train runs with --use_policy_training_preset=true, the default).
    optimizer_lr: float = 3e-4
    optimizer_weight_decay: float = 1e-4
    optimizer_grad_clip_norm: float = 1.0
    scheduler_warmup_steps: int = 10
    scheduler_decay_steps: int = 10_000
    scheduler_decay_lr: float = 3e-5

    def __post_init__(self):
        super().__post_init__()
        if self.chunk_size < 1:
            raise ValueError(f"vla_latent: chunk_size must be >= 1, got {self.chunk_size}")
        if not 1 <= self.n_action_steps <= self.chunk_size:
            raise ValueError(
                f"vla_latent: n_action_steps must be in [1, chunk_size={self.chunk_size}], got {self.n_action_steps}"
            )
        if self.n_obs_steps != 1:
            raise ValueError(f"vla_latent: only n_obs_steps=1 is supported, got {self.n_obs_steps}")

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
