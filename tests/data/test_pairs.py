import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vla.data.pairs import ChunkCache, PairDataset
from vla.data.store import FrameStore, StoreError


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


def test_cached_reads_give_the_same_frames_as_uncached_reads(frame_store):
    url, _ = frame_store
    cached = PairDataset(url, 1, 6, seed=3)
    uncached = PairDataset(url, 1, 6, seed=3, cache_bytes=0)
    for _ in range(2):  # cold, then warm
        for i in range(0, len(cached), 3):
            a, b = cached[i], uncached[i]
            assert torch.equal(a["frame_t"], b["frame_t"]) and torch.equal(a["frame_tk"], b["frame_tk"])
    assert cached.cache.hits > 0 and len(uncached.cache) == 0


def test_items_do_not_alias_the_cache(frame_store):
    url, _ = frame_store
    ds = PairDataset(url, 2, 2, seed=0)
    before = ds[0]["frame_t"].clone()
    ds[0]["frame_t"].zero_()  # a caller writing into its batch must not change later reads
    assert torch.equal(ds[0]["frame_t"], before)


def test_chunk_cache_evicts_least_recently_used_within_its_byte_budget():
    cache = ChunkCache(max_bytes=300)
    for key in "abc":
        cache.put((key, 0), np.zeros(100, np.uint8))
    assert cache.get(("a", 0)) is not None  # "a" is now the most recently used
    cache.put(("d", 0), np.zeros(100, np.uint8))
    assert cache.get(("b", 0)) is None and cache.get(("a", 0)) is not None
    assert cache.nbytes == 300 and len(cache) == 3
    cache.put(("big", 0), np.zeros(301, np.uint8))  # larger than the whole budget: not kept
    assert cache.get(("big", 0)) is None and cache.nbytes == 300


def test_dataset_cache_respects_its_byte_budget(frame_store):
    url, _ = frame_store
    chunk = FrameStore(url).frames(FrameStore(url).video_ids()[0])
    chunk_bytes = chunk.chunks[0] * int(np.prod(chunk.shape[1:]))
    ds = PairDataset(url, 1, 6, seed=0, cache_bytes=2 * chunk_bytes)
    touched = set()
    for i in range(len(ds)):
        vid, t, k = ds.index(i)
        touched |= {(vid, t // chunk.chunks[0]), (vid, (t + k) // chunk.chunks[0])}
        ds[i]
        assert ds.cache.nbytes <= 2 * chunk_bytes and len(ds.cache) <= 2
    assert len(touched) > 2 and ds.cache.misses > len(touched)  # chunks were evicted and read again


def test_pickling_leaves_the_cache_behind(frame_store):
    url, _ = frame_store
    ds = PairDataset(url, 2, 4, seed=0)
    for i in range(20):
        ds[i]
    assert ds.cache.nbytes > 0
    copy = pickle.loads(pickle.dumps(ds))
    assert len(copy.cache) == 0 and copy.cache.max_bytes == ds.cache.max_bytes
    assert len(pickle.dumps(ds)) < ds.cache.nbytes / 10
    assert torch.equal(copy[5]["frame_tk"], ds[5]["frame_tk"])


def test_worker_processes_read_the_same_frames_through_their_own_caches(frame_store):
    url, _ = frame_store
    ds = PairDataset(url, 2, 4, seed=0)
    single = list(DataLoader(ds, batch_size=8))
    loader = DataLoader(ds, batch_size=8, num_workers=2, persistent_workers=True)
    for _ in range(2):  # the second epoch reads through the workers' warm caches
        multi = list(loader)
        assert len(multi) == len(single)
        for x, y in zip(single, multi):
            assert torch.equal(x["frame_t"], y["frame_t"]) and torch.equal(x["frame_tk"], y["frame_tk"])


def _two_rate_store(url, with_fps=True):
    """One second of video at 80 fps and one at 30 fps."""
    store = FrameStore(url, mode="w")
    rng = np.random.default_rng(0)
    for vid, fps in (("sim", 80), ("camera", 30)):
        store.add_video(vid, rng.integers(0, 256, (fps, 8, 8, 3), dtype=np.uint8), {"fps": fps} if with_fps else {})
    return url


def test_a_gap_in_seconds_is_the_same_time_at_every_fps(tmp_path):
    ds = PairDataset(_two_rate_store(str(tmp_path / "s.zarr")), gap_s=0.1, seed=0)
    gaps = {}
    for i in range(len(ds)):
        vid, t, k = ds.index(i)
        gaps.setdefault(vid, set()).add(k)
        assert t + k < {"sim": 80, "camera": 30}[vid]
    assert gaps == {"sim": {8}, "camera": {3}}  # 0.1 s at 80 fps and at 30 fps


def test_a_gap_in_seconds_needs_each_videos_fps(tmp_path):
    url = _two_rate_store(str(tmp_path / "s.zarr"), with_fps=False)
    with pytest.raises(StoreError, match="record no fps"):
        PairDataset(url, gap_s=0.1)
    assert len(PairDataset(url, k_min=2, k_max=2))  # a gap in frames does not
