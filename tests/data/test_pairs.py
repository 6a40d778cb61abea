import numpy as np
import torch
from torch.utils.data import DataLoader

from vla.data.pairs import PairDataset
from vla.data.store import FrameStore


def test_items_have_the_documented_shapes_dtypes_and_ranges(frame_store):
    url, _ = frame_store
    raw = PairDataset(url, k_min=2, k_max=4, seed=0)
    norm = PairDataset(url, k_min=2, k_max=4, seed=0, normalize=True)
    store = FrameStore(url)
    for i in range(0, len(raw), max(1, len(raw) // 20)):
        item, f = raw[i], norm[i]
        assert item["frame_t"].shape == (3, 32, 32) and item["frame_t"].dtype == torch.uint8
        assert f["frame_t"].dtype == torch.float32 and 0.0 <= f["frame_t"].min() and f["frame_tk"].max() <= 1.0
        assert 2 <= item["k"] <= 4 and item["t"] + item["k"] < store.attrs(item["video_id"])["n_frames"]
        expected = store.frames(item["video_id"])[item["t"] + item["k"]]
        np.testing.assert_array_equal(item["frame_tk"].permute(1, 2, 0).numpy(), expected)


def test_sampling_is_deterministic_under_a_seed(frame_store):
    url, _ = frame_store
    a, b, c = (PairDataset(url, 1, 6, seed=s) for s in (7, 7, 8))
    idx = [a.index(i) for i in range(len(a))]
    assert idx == [b.index(i) for i in range(len(b))]
    assert idx != [c.index(i) for i in range(len(c))]
    assert len({k for _, _, k in idx}) > 1  # k really is drawn from the range


def test_multi_worker_loader_gives_the_same_batches(frame_store):
    url, _ = frame_store
    ds = PairDataset(url, 2, 4, seed=0)
    single = [b["t"] for b in DataLoader(ds, batch_size=8)]
    multi = [b["t"] for b in DataLoader(ds, batch_size=8, num_workers=2)]
    assert all(torch.equal(x, y) for x, y in zip(single, multi)) and len(single) == len(multi)
