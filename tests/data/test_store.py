import numpy as np
import zarr
from zarr.codecs import BloscCodec

from vla.data.pairs import PairDataset
from vla.data.store import COMPLETE, FrameStore


def test_stores_written_with_the_earlier_layout_still_read(tmp_path):
    # Before: zstd + bitshuffle, 16-frame chunks, chunk keys as nested directories (rgb/c/0/0/0/0).
    url = str(tmp_path / "old.zarr")
    frames = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    root = zarr.open_group(url, mode="w", zarr_format=3)
    group = root.create_group("vid")
    group.create_array("rgb", shape=frames.shape, dtype="uint8", chunks=(16, 8, 8, 3),
                       compressors=[BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")])[:] = frames
    group.update_attributes({"n_frames": 40, "height": 8, "width": 8, "fps": 10.0, COMPLETE: True})
    assert (tmp_path / "old.zarr" / "vid" / "rgb" / "c" / "0").is_dir()
    np.testing.assert_array_equal(FrameStore(url).frames("vid")[:], frames)
    ds = PairDataset(url, 3, 3, seed=0)
    item = ds[0]
    np.testing.assert_array_equal(item["frame_tk"].permute(1, 2, 0).numpy(), frames[item["t"] + 3])


def test_new_videos_round_trip_with_one_chunk_file_per_chunk(tmp_path):
    url = str(tmp_path / "new.zarr")
    frames = np.random.default_rng(1).integers(0, 256, (70, 8, 8, 3), dtype=np.uint8)
    store = FrameStore(url, mode="a")
    store.begin_video("vid", 70, 8, 8, chunk_frames=32)[:] = frames
    store.finish_video("vid", {"n_frames": 70, "height": 8, "width": 8, "fps": 10.0})
    assert sorted(p.name for p in (tmp_path / "new.zarr" / "vid" / "rgb").iterdir()) == \
        ["c.0.0.0.0", "c.1.0.0.0", "c.2.0.0.0", "zarr.json"]
    np.testing.assert_array_equal(FrameStore(url).frames("vid")[:], frames)
