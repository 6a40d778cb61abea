"""VLAConfig: every hyperparameter of VLAPolicy, registered with LeRobot as policy type `vla_latent`.

One config for every way the policy is trained and run: our stages (Hydra fills it from configs/policy/),
`lerobot-train --policy.type=vla_latent --policy.<field>=...`, and the checkpoint's config.json, which is
LeRobot's own (so `lerobot-eval --policy.path=...` reads it). Defaults are the tiny offline backbone's and
configs/policy/tiny.yaml's (tested). LeRobot resolves the policy by naming convention (lerobot/policies/factory.py):
`VLAConfig` in `configuration_vla` -> `VLAPolicy` in `modeling_vla`, and
`make_vla_latent_pre_post_processors` in `processor_vla`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot.configs import FeatureType, NormalizationMode, PolicyFeature, PreTrainedConfig
from lerobot.optim import AdamWConfig, CosineDecayWithWarmupSchedulerConfig
from lerobot.utils.constants import ACTION, OBS_STATE

POLICY_TYPE = "vla_latent"
# The processors normalise state and action in the config's mode; images are never normalised by them (the
# network resizes images and applies its backbone's own image normalisation).
NORMALIZATION_MODES = {"mean_std": NormalizationMode.MEAN_STD, "min_max": NormalizationMode.MIN_MAX}


@PreTrainedConfig.register_subclass(POLICY_TYPE)
@dataclass
class VLAConfig(PreTrainedConfig):
    # A local directory or a hub id loadable by AutoModelForImageTextToText; "tiny" builds the offline default.
    backbone: str = "tiny"
    image_size: int = 64  # images are resized to this square before the vision encoder
    chunk_size: int = 4  # H: future actions predicted per inference
    n_action_steps: int = 4  # of which the policy's select_action plays this many before inferring again
    action_dim: int = 4  # stage 3 (and lerobot-train) take both sizes from the dataset
    state_dim: int = 4
    # The dataset columns the policy reads: its cameras in order (None: every camera of the dataset, filled in
    # from the dataset and saved with the checkpoint), its state and its action. Set them to map other names.
    image_keys: list[str] | None = None
    state_key: str = "observation.state"
    action_key: str = "action"
    n_tokens: int = 4  # latent-action tokens per frame (stage 2 targets)
    codebook_size: int = 8
    head_hidden: int = 256
    max_text_tokens: int = 32
    # LoRA on the backbone's Linear layers (peft; "all-linear" = vision encoder, connector and decoder);
    # full_finetune trains every backbone weight instead.
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(default_factory=lambda: ["all-linear"])
    full_finetune: bool = False
    # How the heads read the backbone's last hidden states: "mean" over all tokens, or "attention" (pool_queries
    # learned queries attend over the tokens, keeping where things are in the image).
    pool: str = "mean"
    pool_queries: int = 4
    # The action head also reads the stage-2 head's prediction (latent-code probabilities or IDM pseudo-action).
    action_reads_pretrain_head: bool = False
    random_shift: int = 0  # training-time image augmentation (DrQ): shift by up to this many pixels, edges replicated
    pretrain_target: str = "latent"  # "latent" (LAM codes, classification) or "idm" (pseudo-actions, regression)
    pretrain_action_dim: int | None = None  # the IDM pseudo-action's size (the video's robot); None = action_dim
    normalization: str = "mean_std"  # or "min_max", for state and action (sets normalization_mapping)
    # Set from `normalization`; a saved config carries the mapping its `normalization` made.
    normalization_mapping: dict[str, NormalizationMode] = field(default_factory=dict)

    # lerobot-train only: `init_from` starts from one of our checkpoints (vla-pretrain / vla-finetune output)
    # instead of `backbone`; the optimiser presets apply with --use_policy_training_preset=true (its default).
    init_from: str = ""
    optimizer_lr: float = 3e-4
    optimizer_weight_decay: float = 1e-4
    optimizer_grad_clip_norm: float = 1.0
    scheduler_warmup_steps: int = 10
    scheduler_decay_steps: int = 10_000
    scheduler_decay_lr: float = 3e-5

    def __post_init__(self):
        if not self.device:  # LeRobot would pick the same, with a warning on every config built
            from vla.core.device import resolve_device

            self.device = resolve_device("auto").type
        super().__post_init__()
        self._validate()
        mode = NORMALIZATION_MODES[self.normalization]
        mapping = {"VISUAL": NormalizationMode.IDENTITY, "STATE": mode, "ACTION": mode}
        given = {k: NormalizationMode(v) for k, v in (self.normalization_mapping or {}).items()}
        if given and given != mapping:
            shown = {k: v.value for k, v in given.items()}
            raise ValueError(f"VLAConfig: normalization_mapping {shown} is not what normalization="
                             f"{self.normalization!r} gives; set `normalization` (mean_std | min_max) alone: "
                             "images are never normalised by the processor")
        self.normalization_mapping = mapping

    def _validate(self) -> None:
        if self.pretrain_target not in ("latent", "idm"):
            raise ValueError(f"VLAConfig.pretrain_target must be 'latent' or 'idm', got {self.pretrain_target!r}")
        if self.normalization not in NORMALIZATION_MODES:
            raise ValueError(f"VLAConfig.normalization must be 'mean_std' or 'min_max', got {self.normalization!r}")
        if self.pool not in ("mean", "attention"):
            raise ValueError(f"VLAConfig.pool must be 'mean' or 'attention', got {self.pool!r}")
        if self.random_shift < 0:
            raise ValueError(f"VLAConfig.random_shift must be >= 0, got {self.random_shift}")
        for name in ("image_size", "chunk_size", "action_dim", "state_dim", "n_tokens", "codebook_size",
                     "pool_queries"):
            if getattr(self, name) < 1:
                raise ValueError(f"VLAConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 1 <= self.n_action_steps <= self.chunk_size:
            raise ValueError(f"VLAConfig.n_action_steps must be in [1, chunk_size={self.chunk_size}], "
                             f"got {self.n_action_steps}")
        if self.n_obs_steps != 1:
            raise ValueError(f"VLAConfig: only n_obs_steps=1 is supported, got {self.n_obs_steps}")
        self.lora_targets = list(self.lora_targets)
        if self.image_keys is not None:
            self.image_keys = list(self.image_keys)
            if not self.image_keys:
                raise ValueError("VLAConfig.image_keys must name at least one camera (or be null: all of them)")

    # ---- the dataset's features: sizes and cameras, both ways --------------------------------------------
    @property
    def cameras(self) -> list[str]:
        """The camera keys the network reads, in order (a config from before finetuning: one camera)."""
        return self.image_keys or list(self.image_features) or ["observation.image"]

    def set_features(self, image_shapes: dict[str, tuple[int, ...]], state_dim: int, action_dim: int) -> None:
        """The dataset's cameras (name -> (3, H, W)) and sizes as this config's LeRobot features and fields."""
        self.input_features = {k: PolicyFeature(FeatureType.VISUAL, tuple(s)) for k, s in image_shapes.items()}
        self.input_features[OBS_STATE] = PolicyFeature(FeatureType.STATE, (state_dim,))
        self.output_features = {ACTION: PolicyFeature(FeatureType.ACTION, (action_dim,))}
        self.image_keys, self.state_dim, self.action_dim = list(image_shapes), state_dim, action_dim

    def fields_from_features(self) -> None:
        """lerobot-train sets the features; the network's sizes and cameras follow them."""
        self.validate_features()
        self.state_dim = self.input_features[OBS_STATE].shape[0]
        self.action_dim = self.output_features[ACTION].shape[0]
        self.image_keys = list(self.image_features)

    def validate_features(self) -> None:
        if not self.image_features:
            raise ValueError(f"vla_latent needs at least one camera input feature (observation.image*), got none "
                             f"among inputs {sorted(self.input_features)}")
        if OBS_STATE not in self.input_features:
            raise ValueError(f"vla_latent needs '{OBS_STATE}' among the inputs, got {sorted(self.input_features)}")
        if ACTION not in self.output_features or self.output_features[ACTION].type is not FeatureType.ACTION:
            raise ValueError(f"vla_latent needs an '{ACTION}' output feature, got {sorted(self.output_features)}")

    # ---- LeRobot's training interface -------------------------------------------------------------------
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

    # ---- JSON, as LeRobot writes and reads it -----------------------------------------------------------
    def to_dict(self) -> dict:
        import draccus

        return draccus.encode(self, PreTrainedConfig)  # with "type": what LeRobot's config.json holds

    @classmethod
    def from_dict(cls, d: dict) -> "VLAConfig":
        import draccus

        d = {k: v for k, v in d.items() if k != "type"}
        return draccus.decode(cls, d)
