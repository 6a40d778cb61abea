import warnings

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec

from vla.data.pairs import PairDataset
from vla.data.store import _CHUNK_KEYS, COMPLETE, FrameStore, StoreError, _compressor


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
    store.add_video("vid", frames, {"n_frames": 70, "height": 8, "width": 8, "fps": 10.0}, chunk_frames=32)
    assert sorted(p.name for p in (tmp_path / "new.zarr" / "vid" / "rgb").iterdir()) == \
        ["c.0.0.0.0", "c.1.0.0.0", "c.2.0.0.0", "zarr.json"]
    np.testing.assert_array_equal(FrameStore(url).frames("vid")[:], frames)


@pytest.mark.parametrize("n_frames", [1, 31, 32, 70])
def test_video_writer_writes_what_zarr_would(tmp_path, n_frames):
    # The writer bypasses zarr's Array API for speed: its metadata must be exactly zarr's own for the same
    # array, and zarr must read the frames back bit for bit, edge chunk included.
    url = str(tmp_path / "s.zarr")
    frames = np.random.default_rng(n_frames).integers(0, 256, (n_frames, 8, 6, 3), dtype=np.uint8)
    FrameStore(url, mode="a").add_video("vid", frames, {"fps": 10.0}, chunk_frames=32)
    reference = zarr.create_array(zarr.storage.MemoryStore(), shape=frames.shape, dtype="uint8",
                                  chunks=(32, 8, 6, 3), compressors=[_compressor()], chunk_key_encoding=_CHUNK_KEYS)
    written = FrameStore(url).frames("vid")
    assert written.metadata.to_dict() == reference.metadata.to_dict()
    np.testing.assert_array_equal(written[:], frames)
    assert written.nchunks_initialized == -(-n_frames // 32)
    assert FrameStore(url).attrs("vid") == {"fps": 10.0, "n_frames": n_frames, COMPLETE: True}  # counted by the writer


def test_a_video_stopped_mid_write_is_not_a_video_and_is_redone(tmp_path):
    url = str(tmp_path / "s.zarr")
    frames = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    store = FrameStore(url, mode="a")
    store.add_video("done", frames, {"fps": 10.0, "n_frames": 40, "height": 8, "width": 8}, chunk_frames=16)
    half = store.begin_video("half", 8, 8, chunk_frames=16)
    half.write(frames[:20])
    half.wait()  # one chunk on disk, and the process stops here: never finished
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # listing past the leftover is not a warning either
        reopened = FrameStore(url)
        assert reopened.video_ids() == ["done"] and reopened.entries() == ["done", "half"]
        assert reopened.summary()["incomplete_groups"] == 1
    with pytest.raises(StoreError, match="not in frame store"):
        reopened.frames("half")
    store.add_video("half", frames[::-1].copy(), {"fps": 10.0}, chunk_frames=16)
    np.testing.assert_array_equal(FrameStore(url).frames("half")[:], frames[::-1])


def test_rewriting_a_video_unmarks_it_before_the_first_new_chunk(tmp_path):
    url = str(tmp_path / "s.zarr")
    frames = np.zeros((20, 8, 8, 3), np.uint8)
    store = FrameStore(url, mode="a")
    store.add_video("vid", frames, {"fps": 10.0}, chunk_frames=16)
    store.write_array("vid", "latent_actions", np.zeros((16, 2), np.int64))
    store.begin_video("vid", 8, 8, chunk_frames=16).write(frames + 1)
    assert FrameStore(url).video_ids() == [] and not FrameStore(url).has_array("vid", "latent_actions")


def test_a_frame_of_the_wrong_shape_is_refused_by_name(tmp_path):
    writer = FrameStore(str(tmp_path / "s.zarr"), mode="a").begin_video("clip7", 8, 8)
    writer.append(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(StoreError, match=r"clip7.*frame 1 is uint8 \(8, 6, 3\), expected uint8 \(8, 8, 3\)"):
        writer.append(np.zeros((8, 6, 3), np.uint8))


def test_a_failed_chunk_write_is_raised_and_discarding_leaves_nothing(tmp_path):
    url = str(tmp_path / "s.zarr")
    store = FrameStore(url, mode="a")
    writer = store.begin_video("vid", 8, 8, chunk_frames=16)
    (tmp_path / "s.zarr" / "vid").mkdir()
    (tmp_path / "s.zarr" / "vid" / "rgb").write_bytes(b"")  # a file where the chunks' directory must go
    frames = np.zeros((40, 8, 8, 3), np.uint8)
    with pytest.raises(OSError):  # the background write's error, at the next chunk or at finish
        writer.write(frames)
        writer.finish({"fps": 10.0})
    writer.discard()
    assert FrameStore(url).entries() == [] and FrameStore(url).video_ids() == []


def test_discard_waits_for_the_chunk_in_flight_before_deleting(tmp_path):
    # Large chunks take milliseconds to encode and write: a delete that did not wait would run first and
    # the chunk would land after it, leaving a leftover.
    url = str(tmp_path / "s.zarr")
    frames = np.random.default_rng(0).integers(0, 256, (64, 256, 256, 3), dtype=np.uint8)
    for _ in range(3):
        writer = FrameStore(url, mode="a").begin_video("vid", 256, 256, chunk_frames=64)
        writer.write(frames)  # the one chunk is handed to the writer thread
        writer.discard()
        assert FrameStore(url).entries() == []


def test_a_failed_chunk_write_leaves_no_completion_mark_even_before_discard(tmp_path):
    # finish(wait=False) queues the documents behind the chunks: they must not be written over a chunk
    # that failed, or a reader would see a complete video with a chunk missing.
    url = str(tmp_path / "s.zarr")
    store = FrameStore(url, mode="a")
    (tmp_path / "s.zarr" / "vid" / "rgb" / "c.0.0.0.0").mkdir(parents=True)  # the first chunk cannot be written
    writer = store.begin_video("vid", 8, 8, chunk_frames=16, replace=False)
    writer.write(np.zeros((20, 8, 8, 3), np.uint8))
    writer.finish({"fps": 10.0}, wait=False)
    with pytest.raises(OSError):
        writer.wait()
    assert not (tmp_path / "s.zarr" / "vid" / "zarr.json").exists()
    assert FrameStore(url).video_ids() == []


def test_videos_finished_without_waiting_are_all_written_in_order(tmp_path):
    url = str(tmp_path / "s.zarr")
    store = FrameStore(url, mode="a")
    rng = np.random.default_rng(3)
    videos = {f"v{i}": rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8) for i, n in enumerate([5, 16, 33, 70])}
    writers = []
    for vid, frames in videos.items():
        writer = store.begin_video(vid, 8, 8, chunk_frames=16)
        writer.write(frames)
        writer.finish({"fps": 10.0}, wait=False)
        writers.append(writer)
    for writer in writers:
        writer.wait()
    reopened = FrameStore(url)
    assert reopened.video_ids() == sorted(videos)
    for vid, frames in videos.items():
        np.testing.assert_array_equal(reopened.frames(vid)[:], frames)
