"""`vla-lam label`: write the LAM's codes for every frame pair into the frame store (vla.data.labelling's loop)."""

from __future__ import annotations

import numpy as np

from vla.data.labelling import label_store


def label_with_lam(checkpoint: str, store_url: str, batch_size: int = 256, name: str = "latent_actions") -> dict:
    """`name` (T-k, n_tokens) int16 per video, k = the LAM's k_min. Another name keeps a second LAM's codes
    (the `latent_labels` arm's) beside the first's."""
    from vla.core.checkpoint import checkpoint_hash
    from vla.lam.modeling import LatentActionModel

    model = LatentActionModel.from_pretrained(checkpoint)
    c = model.cfg
    return label_store(store_url, name, "lam_hash", checkpoint_hash(checkpoint), c.k_min, model.encode,
                       {"codebook_size": c.codebook_size, "n_tokens": c.n_tokens}, np.int16, batch_size)
