"""Pre/post-processing around the network, saved with the checkpoint (LeRobot's processor split).

pre:  image(s) uint8 HxWx3 (any size, one or more cameras) -> resized, scaled to [-1, 1] (SmolVLM's mean/std 0.5)
      instruction -> [image tokens per camera] + text tokens; state -> normalised with dataset stats
post: normalised action chunk -> robot units
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

EPS = 1e-6


def compute_stats(x: np.ndarray | torch.Tensor) -> dict[str, list[float]]:
    """Per-dimension mean/std/min/max of an (N, D) array (D = state or action dim)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64).reshape(-1, np.asarray(x).shape[-1])
    if x.shape[0] == 0:
        raise ValueError("cannot compute normalisation stats from an empty array")
    return {"mean": x.mean(0).tolist(), "std": x.std(0, unbiased=False).tolist(),
            "min": x.min(0).values.tolist(), "max": x.max(0).values.tolist()}


class Normalizer:
    """mean_std: (x - mean) / std;  min_max: to [-1, 1]. Stats are plain lists so they live in config.json."""

    def __init__(self, stats: dict[str, list[float]], mode: str = "mean_std"):
        self.stats, self.mode = stats, mode

    def _ab(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = lambda k: torch.tensor(self.stats[k], dtype=like.dtype, device=like.device)  # noqa: E731
        if self.mode == "mean_std":
            return t("mean"), t("std").clamp_min(EPS)
        lo, hi = t("min"), t("max")
        return (lo + hi) / 2, ((hi - lo) / 2).clamp_min(EPS)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        centre, scale = self._ab(x)
        return (x - centre) / scale

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        centre, scale = self._ab(x)
        return x * scale + centre


def images_to_pixels(images, image_size: int, device=None) -> torch.Tensor:
    """uint8 (B,H,W,3) / (H,W,3) or float (B,3,H,W) in [0,1] -> (B, 1, 3, S, S) in [-1, 1].
    A numpy view of any layout (a padded camera row, a flipped image) is made C-contiguous first: the backbone
    always gets one memory layout, and a compiled one is not recompiled for another."""
    x = torch.as_tensor(np.ascontiguousarray(images) if not isinstance(images, torch.Tensor) else images)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dtype == torch.uint8:
        if x.shape[-1] != 3:
            raise ValueError(f"uint8 images must be (B, H, W, 3), got shape {tuple(x.shape)}")
        x = x.permute(0, 3, 1, 2).float() / 255.0
    elif x.shape[1] != 3:
        raise ValueError(f"float images must be (B, 3, H, W) in [0, 1], got shape {tuple(x.shape)}")
    x = x.to(device=device, dtype=torch.float32)
    if x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
    return ((x - 0.5) / 0.5).unsqueeze(1)


class PolicyProcessor:
    """Tokenizer + normalisation stats; turns observation batches into backbone inputs and back."""

    def __init__(self, tokenizer, image_token_id: int, n_image_tokens: int, image_size: int,
                 max_text_tokens: int, stats: dict | None = None, mode: str = "mean_std"):
        self.tokenizer, self.image_token_id, self.n_image_tokens = tokenizer, image_token_id, n_image_tokens
        self.image_size, self.max_text_tokens, self.mode = image_size, max_text_tokens, mode
        self.stats = stats or {}

    def normalizer(self, key: str) -> Normalizer:
        if key not in self.stats:
            raise KeyError(f"no normalisation stats for {key!r} (have {sorted(self.stats)}); "
                           "compute them from the dataset before training")
        return Normalizer(self.stats[key], self.mode)

    def tokenize(self, instructions: list[str], device=None, n_images: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Each image's tokens first (camera after camera), then the instruction; right-padded. The causal
        decoder's last text tokens see all."""
        text = self.tokenizer([s.lower() for s in instructions], add_special_tokens=False, truncation=True,
                              max_length=self.max_text_tokens)["input_ids"]
        pad, n_image = self.tokenizer.pad_token_id, self.n_image_tokens * n_images
        length = n_image + max(len(t) for t in text)
        ids = torch.full((len(text), length), pad, dtype=torch.long)
        mask = torch.zeros((len(text), length), dtype=torch.long)
        for i, t in enumerate(text):
            n = n_image + len(t)
            ids[i, :n_image] = self.image_token_id
            ids[i, n_image: n] = torch.tensor(t, dtype=torch.long)
            mask[i, :n] = 1
        return ids.to(device), mask.to(device)

    def preprocess(self, batch: dict, device=None) -> dict:
        """{"image" (one camera) or "images" (a list, one batch of images per camera, each its own size),
        "instruction": list[str], optional "state"} -> backbone inputs (+ normalised state)."""
        instructions = batch["instruction"]
        if isinstance(instructions, str):
            instructions = [instructions]
        cameras = batch["images"] if "images" in batch else [batch["image"]]
        ids, mask = self.tokenize(list(instructions), device, n_images=len(cameras))
        pixels = [images_to_pixels(images, self.image_size, device) for images in cameras]
        out = {"input_ids": ids, "attention_mask": mask,
               "pixel_values": pixels[0] if len(pixels) == 1 else torch.cat(pixels, dim=1)}  # (B, cameras, 3, S, S)
        if "state" in batch:
            state = torch.as_tensor(np.asarray(batch["state"]) if not isinstance(batch["state"], torch.Tensor)
                                    else batch["state"], dtype=torch.float32, device=device)
            out["state"] = self.normalizer("state").normalize(state.reshape(ids.shape[0], -1))
        return out

    def postprocess(self, actions_norm: torch.Tensor) -> torch.Tensor:
        return self.normalizer("action").unnormalize(actions_norm.float())
