"""The latent action model's configuration: architecture, target and frame gap (configs/lam/*.yaml `model:`)."""

from __future__ import annotations

from dataclasses import dataclass

from vla.core.checkpoint import SavedConfig


@dataclass
class LAMConfig(SavedConfig):
    image_size: int = 64
    channels: int = 3
    width: int = 32             # conv channels of the first stage (doubled at each of 3 downsamplings, capped)
    n_tokens: int = 4
    codebook_size: int = 8
    code_dim: int = 32
    target: str = "pixels"      # "pixels" | "features"
    # "features" target: "random_conv" = a fixed, seeded, frozen random conv net (offline, a toy),
    # or a local dir / hub id of an HF vision model loaded with transformers AutoModel (frozen).
    feature_encoder: str = "random_conv"
    feature_dim: int = 128
    # The gap between the two frames: gap_s seconds, converted at each video's fps (30 fps camera video and the
    # 80 fps sim mean the same gap); None: k_min..k_max frames whatever the fps. 1 frame at 80 fps is too small a change.
    gap_s: float | None = None
    k_min: int = 4
    k_max: int = 4
    beta: float = 0.25          # commitment weight
    restart_after: int = 50     # dead-code restart: updates a code may go unused
    action_dim: int = 0         # > 0: a head reads the action from the code (trained where labels exist)
    label_weight: float = 0.0   # weight of that head's MSE in the loss

    def frame_gap(self, fps: float | None) -> int:
        """The (smallest) gap in frames for a video or episode at `fps`: what labels and the probe use."""
        from vla.data.pairs import frame_gap

        return frame_gap(self.k_min, self.gap_s, fps)

    def __post_init__(self):
        if self.gap_s is not None and not self.gap_s > 0:
            raise ValueError(f"LAMConfig.gap_s must be > 0 seconds (or null: k_min..k_max frames), got {self.gap_s}")
        if self.target not in ("pixels", "features"):
            raise ValueError(f"LAMConfig.target must be 'pixels' or 'features', got {self.target!r}")
        if self.image_size % 8:
            raise ValueError(f"LAMConfig.image_size must be a multiple of 8, got {self.image_size}")
        if self.action_dim < 0 or self.label_weight < 0 or (self.label_weight > 0) != (self.action_dim > 0):
            raise ValueError(f"LAMConfig: action_dim={self.action_dim} and label_weight={self.label_weight} "
                             "must both be > 0 (a LAM supervised by labels) or both 0 (pure video)")

