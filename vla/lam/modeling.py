"""Latent action model: q(z | o_t, o_{t+k}) with a discrete z, trained by predicting o_{t+k} from (o_t, z).

encoder:   conv stack over (o_t, o_{t+k} - o_t) (6 channels), max-pooled over space, then
           n_tokens vectors of code_dim. The pooling is on purpose: a code that cannot say *where*
           something is has to say *what happened* (with a flatten, a small model learns to encode
           the future position of the moving object instead of its motion).
quantiser: VectorQuantizer (cosine distance, straight-through, commitment, dead-code restart)
decoder:   target="pixels": a small U-Net over o_t with the codes injected at every scale, predicting
           a RESIDUAL added to o_t (it only has to draw the change, at full resolution);
           target="features": an MLP predicting the change of frozen image features.
action head (action_dim > 0, the `latent_labels` arm): a linear map from the quantised code to the mean
           action over the gap, trained on the few pairs that have labels (LAOM/CLAM: a little supervision
           steers the code towards the action instead of whatever else changes between frames).

Frames go in as uint8 (B,3,H,W) or float in [0,1]; everything is scaled to [0,1] here.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from vla.core.checkpoint import DataclassCheckpoint
from vla.core.nn import conv_stack, to_unit
from vla.lam.configuration import LAMConfig
from vla.lam.quantizer import VectorQuantizer

KIND = "lam"


class FrozenFeatures(nn.Module):
    """Fixed image features for the "features" target; never trained."""

    def __init__(self, cfg: LAMConfig):
        super().__init__()
        self.hf = None
        if cfg.feature_encoder == "random_conv":
            g = torch.Generator().manual_seed(1234)  # same features in every run, saved with the weights anyway
            net, c = conv_stack(cfg.channels, 16)
            for p in net.parameters():
                p.data = torch.randn(p.shape, generator=g) * (1.0 / p[0].numel()) ** 0.5
            self.net = nn.Sequential(net, nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(c * 4, cfg.feature_dim))
            with torch.no_grad():
                self.net[-1].weight.copy_(torch.randn(self.net[-1].weight.shape, generator=g) / (c * 4) ** 0.5)
        else:
            from transformers import AutoModel

            self.hf = AutoModel.from_pretrained(cfg.feature_encoder)
            self.net = nn.LazyLinear(cfg.feature_dim)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.hf is None:
            return self.net(x)
        out = self.hf(pixel_values=x)
        return self.net(out.last_hidden_state.mean(1))


class CodeUNet(nn.Module):
    """o_t -> residual for o_{t+k}: conv_stack down, three transposed convs up with skips, and the
    code vector z concatenated (broadcast over space) at every scale on the way up."""

    def __init__(self, channels: int, width: int, z_dim: int):
        super().__init__()
        self.down, _ = conv_stack(channels, width)
        w1, w2, w3 = (m.out_channels for m in self.down if isinstance(m, nn.Conv2d))
        self.up = nn.ModuleList([nn.ConvTranspose2d(w3 + z_dim, w2, 4, 2, 1),
                                 nn.ConvTranspose2d(2 * w2 + z_dim, w1, 4, 2, 1),
                                 nn.ConvTranspose2d(2 * w1 + z_dim, channels, 4, 2, 1)])

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            if isinstance(layer, nn.GELU):  # the output of each scale
                skips.append(x)
        h = skips.pop()
        for up in self.up:
            h = torch.cat([h, z[:, :, None, None].expand(-1, -1, *h.shape[2:])], 1)
            h = up(h)
            if skips:
                h = torch.cat([F.gelu(h), skips.pop()], 1)
        return h


class LatentActionModel(DataclassCheckpoint, nn.Module):
    kind, config_class = KIND, LAMConfig

    def __init__(self, cfg: LAMConfig):
        super().__init__()
        self.cfg = cfg
        self.enc, c = conv_stack(2 * cfg.channels, cfg.width)
        self.to_tokens = nn.Linear(c, cfg.n_tokens * cfg.code_dim)
        self.vq = VectorQuantizer(cfg.codebook_size, cfg.code_dim, cfg.beta, cfg.restart_after)
        self.z_proj = nn.Linear(cfg.n_tokens * cfg.code_dim, c)
        if cfg.target == "pixels":
            self.dec = CodeUNet(cfg.channels, cfg.width, c)
        else:
            self.features = FrozenFeatures(cfg)
            d = cfg.feature_dim
            self.dec = nn.Sequential(nn.Linear(d + c, 256), nn.GELU(), nn.Linear(256, d))
        if cfg.action_dim:
            self.action_head = nn.Linear(cfg.n_tokens * cfg.code_dim, cfg.action_dim)

    @property
    def device(self) -> torch.device:
        return self.vq.codebook.device

    # ---- the two halves ------------------------------------------------------------------
    def _latents(self, frame_t, frame_tk) -> torch.Tensor:
        # (o_t, o_{t+k} - o_t): the same information, but where nothing moved the second half is zero.
        x_t = to_unit(frame_t, self.device)
        x = torch.cat([x_t, to_unit(frame_tk, self.device) - x_t], 1)
        h = self.enc(x).amax((2, 3))
        return self.to_tokens(h).view(-1, self.cfg.n_tokens, self.cfg.code_dim)

    @torch.no_grad()
    def encode(self, frame_t, frame_tk) -> torch.Tensor:
        """Codes (B, n_tokens) long for the change from frame_t to frame_tk."""
        return self.vq.nearest(self._latents(frame_t, frame_tk))

    def _predict(self, frame_t, q: torch.Tensor) -> torch.Tensor:
        x = to_unit(frame_t, self.device)
        z = self.z_proj(q.flatten(1))
        if self.cfg.target == "pixels":
            return x + self.dec(x, z)  # residual: the decoder only has to draw the change
        f = self.features(x)
        return f + self.dec(torch.cat([f, z], 1))

    @torch.no_grad()
    def decode(self, frame_t, codes: torch.Tensor) -> torch.Tensor:
        """Prediction of o_{t+k} (pixels in [0,1], or features) from frame_t and codes (B, n_tokens)."""
        return self._predict(frame_t, self.vq.lookup(codes))

    def target(self, frame_tk) -> torch.Tensor:
        x = to_unit(frame_tk, self.device)
        if self.cfg.target == "pixels":
            return x
        with torch.no_grad():
            return self.features(x)

    def forward(self, frame_t, frame_tk, generator: torch.Generator | None = None,
                actions: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """Total loss and stats: recon (MSE), copy (MSE of predicting 'no change'), vq, perplexity, usage.
        `generator` draws the quantiser's dead-code restarts (training only). `actions` (B, action_dim), NaN
        where a pair has no label, adds the action head's MSE on the labelled rows."""
        q, codes, vq_loss, stats = self.vq(self._latents(frame_t, frame_tk), generator)
        pred = self._predict(frame_t, q)
        tgt = self.target(frame_tk)
        recon = F.mse_loss(pred, tgt)
        with torch.no_grad():
            copy = F.mse_loss(self.target(frame_t), tgt)
        loss = recon + vq_loss
        extra = {}
        if actions is not None and self.cfg.action_dim:
            labelled = ~torch.isnan(actions).any(1)
            if labelled.any():
                action_mse = F.mse_loss(self.action_head(q[labelled].flatten(1)), actions[labelled])
                loss = loss + self.cfg.label_weight * action_mse
                extra = {"action_mse": action_mse.item()}
        return loss, {"loss": loss.item(), "recon": recon.item(), "copy": copy.item(), "vq": vq_loss.item(),
                      **extra, **stats, "codes": codes}
