"""`vla-lam label`: write the LAM's codes for every frame pair into the frame store (vla.data.labelling's loop)."""

from __future__ import annotations

from functools import partial

import numpy as np

from vla.data.labelling import LabelSpec, label_store


def lam_encoder(checkpoint: str):
    """The LAM's pair function (frames t, t+k -> codes), on the best device here: what each labeller loads."""
    from vla.core.device import resolve_device
    from vla.lam.modeling import LatentActionModel

    return LatentActionModel.from_pretrained(checkpoint).to(resolve_device("auto")).encode


def label_with_lam(checkpoint: str, store_url: str, batch_size: int = 256, name: str = "latent_actions",
                   engine: str = "local", workers: int = 2, ray_address: str | None = None) -> dict:
    """`name` (T-k, n_tokens) int16 per video, k = the LAM's gap at that video's fps. Another name keeps a second LAM's codes
    (the `latent_labels` arm's) beside the first's. engine=ray: on `workers` Ray actors."""
    from vla.core.checkpoint import checkpoint_hash
    from vla.lam.modeling import LatentActionModel

    c = LatentActionModel.from_pretrained(checkpoint).cfg
    spec = LabelSpec(name, "lam_hash", checkpoint_hash(checkpoint), c.k_min,
                     {"codebook_size": c.codebook_size, "n_tokens": c.n_tokens}, np.int16, batch_size, c.gap_s)
    return label_store(store_url, spec, partial(lam_encoder, checkpoint), engine, workers, ray_address)
