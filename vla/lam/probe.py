"""LAM diagnostics: linear probe of true actions from codes, reconstruction vs copy, and the code grid PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vla.core.splits import held_out
from vla.data.labelling import pair_labels


def ridge_r2(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray, alpha: float = 1e-1) -> float:
    """Closed-form ridge with a bias; R^2 on the test set pooled over output dims."""
    a_tr = np.c_[x_tr, np.ones(len(x_tr))]
    a_te = np.c_[x_te, np.ones(len(x_te))]
    reg = alpha * np.eye(a_tr.shape[1])
    reg[-1, -1] = 0.0  # do not shrink the bias
    w = np.linalg.solve(a_tr.T @ a_tr + reg, a_tr.T @ y_tr)
    sse = ((a_te @ w - y_te) ** 2).sum()
    sst = ((y_te - y_tr.mean(0)) ** 2).sum()
    return float(1.0 - sse / max(sst, 1e-12))


def one_hot(codes: np.ndarray, codebook_size: int) -> np.ndarray:
    """(N, n_tokens) ints -> (N, n_tokens * codebook_size) one-hot floats."""
    n, t = codes.shape
    out = np.zeros((n, t * codebook_size), np.float32)
    out[np.arange(n)[:, None], np.arange(t)[None] * codebook_size + codes] = 1.0
    return out


def action_sums(actions: np.ndarray, gap: int, dims: int = 3) -> np.ndarray:
    """Sum of actions over each gap: the motion a code for (t, t+gap) should explain (xyz by default)."""
    c = np.concatenate([np.zeros((1, actions.shape[1])), np.cumsum(actions, 0)])
    return (c[gap:] - c[:-gap])[: len(actions) - gap, :dims]


def probe(model, episodes: list, seed: int = 0, eval_fraction: float = 0.5) -> dict:
    """Ridge probe of summed xyz actions from one-hot codes, on held-out episodes; and on shuffled codes."""
    if len(episodes) < 2:
        raise ValueError(f"the probe needs >= 2 labelled episodes (train + held out), got {len(episodes)}")
    codes, targets, ep = [], [], []
    for i, e in enumerate(episodes):
        gap = model.cfg.frame_gap(e.fps)  # the LAM's gap at this episode's fps
        if len(e.images) <= gap:
            continue
        codes.append(pair_labels(e.images, gap, model.encode))
        targets.append(action_sums(e.actions, gap))
        ep.append(np.full(len(codes[-1]), i))
    codes, y, ep = np.concatenate(codes), np.concatenate(targets), np.concatenate(ep)
    rng = np.random.default_rng(seed)
    held = list(held_out(np.unique(ep), eval_fraction, rng))
    te, tr = np.isin(ep, held), ~np.isin(ep, held)
    x = one_hot(codes, model.cfg.codebook_size)
    shuffled = x[rng.permutation(len(x))]
    return {"probe_r2": ridge_r2(x[tr], y[tr], x[te], y[te]),
            "probe_r2_shuffled": ridge_r2(shuffled[tr], y[tr], shuffled[te], y[te]),
            "probe_pairs_train": int(tr.sum()), "probe_pairs_test": int(te.sum())}


@torch.no_grad()
def recon_ratio(model, batches) -> dict:
    """Held-out reconstruction MSE and its ratio to copying the last frame (< 1 = the codes help)."""
    model.eval()
    recon = copy = n = 0.0
    codes = []
    for b in batches:
        _, s = model(b["frame_t"], b["frame_tk"])
        m = len(b["frame_t"])
        recon, copy, n = recon + s["recon"] * m, copy + s["copy"] * m, n + m
        codes.append(s["codes"])
    from vla.lam.quantizer import code_stats

    stats = code_stats(torch.cat(codes), model.cfg.codebook_size)
    return {"eval_recon": recon / n, "eval_copy": copy / n, "recon_vs_copy": recon / max(copy, 1e-12),
            "eval_perplexity": stats["perplexity"], "eval_usage": stats["usage"]}


@torch.no_grad()
def code_grid(model, frame_t: torch.Tensor, frame_tk: torch.Tensor, path: str | Path,
              token: int | None = None) -> Path:
    """PNG: for each start frame, a row of images — o_t, the true o_{t+k}, then the decoder's o_{t+k} with one
    token set to each code (the other tokens kept at their encoded values) — and under it the same columns as
    the change from o_t, amplified (grey = no change), which is where a code's motion shows at 64 px.
    `token`: the token varied; None = the one whose code changes the decoded frame most. With an action
    head (the latent_labels LAM) each column's title also gives the mean xyz action it reads from that code."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if model.cfg.target != "pixels":
        raise ValueError("vla-lam viz draws pixels: it needs a LAM trained with target=pixels")
    model.eval()
    with torch.no_grad():
        codes = model.encode(frame_t, frame_tk)
        k, x_t = model.cfg.codebook_size, frame_t.float() / 255

        def decoded(tok: int) -> list[torch.Tensor]:
            out = []
            for c in range(k):
                varied = codes.clone()
                varied[:, tok] = c
                out.append(model.decode(frame_t, varied).clamp(0, 1))
            return out

        per_token = [decoded(t) for t in range(codes.shape[1])]
        if token is None:  # the token that moves the picture most across its codes
            token = int(np.argmax([torch.stack(d).std(0).mean().item() for d in per_token]))
        cols = [x_t, frame_tk.float() / 255, *per_token[token]]
        titles = ["o_t", "o_t+k"] + [f"z{token}={c}" for c in range(k)]
        head = getattr(model, "action_head", None)
        if head is not None:
            for c in range(k):
                varied = codes[:1].clone()
                varied[:, token] = c
                a = head(model.vq.lookup(varied).flatten(1))[0].tolist()
                titles[2 + c] += "\na=" + ",".join(f"{v:+.1f}" for v in a)
    n = len(frame_t)
    fig, axes = plt.subplots(2 * n, k + 2, figsize=(1.2 * (k + 2), 2.4 * n), squeeze=False)
    for r in range(n):
        for j, col in enumerate(cols):
            change = (col[r] - x_t[r]).mean(0)  # grey: no change; light/dark: brighter/darker than o_t
            for ax, img, cmap in ((axes[2 * r, j], col[r].permute(1, 2, 0).cpu().numpy(), None),
                                  (axes[2 * r + 1, j], (0.5 + 4 * change).clamp(0, 1).cpu().numpy(), "gray")):
                ax.imshow(img, cmap=cmap, vmin=0, vmax=1)
                ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                axes[0, j].set_title(titles[j], fontsize=6)
        axes[2 * r, 0].set_ylabel(f"enc {codes[r].tolist()}", fontsize=6)
        axes[2 * r + 1, 0].set_ylabel("change x4", fontsize=6)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def viz_from_store(checkpoint: str, store_url: str, out: str | Path, rows: int = 6, seed: int = 0) -> Path:
    """code_grid on `rows` random (t, t+k) pairs of the store."""
    from vla.data.pairs import PairDataset
    from vla.lam.modeling import LatentActionModel

    model = LatentActionModel.from_pretrained(checkpoint)
    pairs = PairDataset(store_url, model.cfg.k_min, model.cfg.k_min, seed=seed, gap_s=model.cfg.gap_s)
    idx = np.random.default_rng(seed).choice(len(pairs), size=min(rows, len(pairs)), replace=False)
    items = [pairs[int(i)] for i in idx]
    return code_grid(model, torch.stack([b["frame_t"] for b in items]), torch.stack([b["frame_tk"] for b in items]), out)
