"""PolicyConfig: every hyperparameter of VLAPolicy, with defaults for the tiny offline backbone."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from vla.core.checkpoint import SavedConfig


@dataclass
class PolicyConfig(SavedConfig):
    # A local directory or a hub id loadable by AutoModelForImageTextToText; "tiny" builds the offline default.
    backbone: str = "tiny"
    image_size: int = 64  # images are resized to this square before the vision encoder
    chunk_size: int = 4  # H: future actions predicted per inference
    action_dim: int = 4  # stage 3 takes both sizes from the dataset
    state_dim: int = 4
    # The dataset features the policy reads: its cameras in order (None: every camera of the dataset, filled in
    # by stage 3 and saved with the checkpoint), its state and its action. Set them to map other names.
    image_keys: list[str] | None = None
    state_key: str = "observation.state"
    action_key: str = "action"
    n_tokens: int = 4  # latent-action tokens per frame (stage 2 targets)
    codebook_size: int = 8
    head_hidden: int = 256
    max_text_tokens: int = 32
    # LoRA on the backbone's Linear layers (peft; "all-linear" = vision encoder, connector and decoder);
    # full_finetune trains every backbone weight instead. The defaults are configs/policy/tiny.yaml's (tested).
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
    normalization: str = "mean_std"  # or "min_max" for state and action

    def __post_init__(self):
        if self.pretrain_target not in ("latent", "idm"):
            raise ValueError(f"PolicyConfig.pretrain_target must be 'latent' or 'idm', got {self.pretrain_target!r}")
        if self.normalization not in ("mean_std", "min_max"):
            raise ValueError(f"PolicyConfig.normalization must be 'mean_std' or 'min_max', got {self.normalization!r}")
        if self.pool not in ("mean", "attention"):
            raise ValueError(f"PolicyConfig.pool must be 'mean' or 'attention', got {self.pool!r}")
        if self.random_shift < 0:
            raise ValueError(f"PolicyConfig.random_shift must be >= 0, got {self.random_shift}")
        for name in ("image_size", "chunk_size", "action_dim", "state_dim", "n_tokens", "codebook_size", "pool_queries"):
            if getattr(self, name) < 1:
                raise ValueError(f"PolicyConfig.{name} must be >= 1, got {getattr(self, name)}")
        self.lora_targets = list(self.lora_targets)
        if self.image_keys is not None:
            self.image_keys = list(self.image_keys)
            if not self.image_keys:
                raise ValueError("PolicyConfig.image_keys must name at least one camera (or be null: all of them)")

    def to_dict(self) -> dict:
        return asdict(self)

