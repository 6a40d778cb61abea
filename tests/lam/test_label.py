"""`vla-lam label` / `vla-idm label` on a real zarr store: shapes, skip-by-hash, resume, bad stores."""

import numpy as np
import torch
import pytest

import lam_support
from vla.data.store import FrameStore, StoreError
from vla.lam.label import label_with_lam


def test_lam_labels_have_the_right_shape_and_range(trained_lam, tmp_path):
    url = lam_support.copy_store(tmp_path / "frames.zarr")
    counts = label_with_lam(str(trained_lam[0] / "model"), url, batch_size=16)  # batches split videos
    store = FrameStore(url)
    assert counts == {"labelled": len(store.video_ids()), "skipped": 0, "too_short": 0}
    cfg = lam_support.tiny_lam_cfg()
    for vid in store.video_ids():
        codes = store.read_array(vid, "latent_actions")
        assert codes.shape == (store.frames(vid).shape[0] - cfg.k_min, cfg.n_tokens)
        assert codes.min() >= 0 and codes.max() < cfg.codebook_size
    attrs = store.array_attrs(store.video_ids()[0], "latent_actions")
    assert attrs["gap"] == cfg.k_min and attrs["codebook_size"] == cfg.codebook_size and attrs["lam_hash"]


def test_labels_equal_the_models_codes(trained_lam, tmp_path):
    import torch

    from vla.lam.modeling import LatentActionModel

    url = lam_support.copy_store(tmp_path / "frames.zarr")
    label_with_lam(str(trained_lam[0] / "model"), url, batch_size=7)
    model = LatentActionModel.from_pretrained(trained_lam[0] / "model")
    store = FrameStore(url)
    vid = store.video_ids()[3]
    video = torch.from_numpy(np.asarray(store.frames(vid)[:])).permute(0, 3, 1, 2)
    k = model.cfg.k_min
    np.testing.assert_array_equal(store.read_array(vid, "latent_actions"), model.encode(video[:-k], video[k:]).numpy())


def test_relabelling_skips_same_checkpoint_and_redoes_a_lost_video(trained_lam, tmp_path):
    url = lam_support.copy_store(tmp_path / "frames.zarr")
    ckpt = str(trained_lam[0] / "model")
    label_with_lam(ckpt, url)
    store = FrameStore(url, mode="r+")
    vids = store.video_ids()
    before = {v: store.read_array(v, "latent_actions") for v in vids}
    assert label_with_lam(ckpt, url)["skipped"] == len(vids)  # idempotent
    store.delete_array(vids[5], "latent_actions")  # as if the run had been killed on this video
    assert label_with_lam(ckpt, url) == {"labelled": 1, "skipped": len(vids) - 1, "too_short": 0}
    for v in vids:
        np.testing.assert_array_equal(FrameStore(url).read_array(v, "latent_actions"), before[v])


def test_a_different_checkpoint_relabels(trained_lam, tmp_path):
    from vla.lam.modeling import LatentActionModel

    url = lam_support.copy_store(tmp_path / "frames.zarr")
    label_with_lam(str(trained_lam[0] / "model"), url)
    other = LatentActionModel(lam_support.tiny_lam_cfg()).save_pretrained(tmp_path / "untrained")
    assert label_with_lam(str(other), url)["labelled"] == len(FrameStore(url).video_ids())


def test_labelling_an_empty_or_missing_store_names_it(trained_lam, tmp_path):
    FrameStore(tmp_path / "empty.zarr", mode="w")
    with pytest.raises(StoreError, match="empty.zarr"):
        label_with_lam(str(trained_lam[0] / "model"), str(tmp_path / "empty.zarr"))
    with pytest.raises((StoreError, FileNotFoundError), match="nowhere.zarr"):
        label_with_lam(str(trained_lam[0] / "model"), str(tmp_path / "nowhere.zarr"))


def test_pretraining_on_an_unlabelled_store_says_what_to_run(tmp_path):
    from vla.data.labelled_frames import load_labelled_frames

    url = lam_support.copy_store(tmp_path / "frames.zarr")
    with pytest.raises(FileNotFoundError, match="frames.zarr.*vla-lam label"):
        load_labelled_frames(url, "latent")
    with pytest.raises(FileNotFoundError, match="vla-idm label"):
        load_labelled_frames(url, "idm")


def test_viz_writes_a_grid_of_codes(trained_lam, tmp_path):
    from PIL import Image

    from vla.lam.probe import viz_from_store

    from vla.lam.modeling import LatentActionModel

    path = viz_from_store(str(trained_lam[0] / "model"), lam_support.store_template(), tmp_path / "codes.png", rows=3)
    image = Image.open(path)
    w, h = image.size
    k = LatentActionModel.from_pretrained(str(trained_lam[0] / "model")).cfg.codebook_size
    assert abs(h / w - (2 * 3) / (k + 2)) < 0.05  # codebook_size + 2 columns; each of 3 pairs: frames + change
    assert len(set(image.convert("L").getdata())) > 10  # drawn, not blank


def test_viz_of_a_lam_with_an_action_head_names_each_codes_action(tmp_path, monkeypatch):
    import matplotlib.axes

    from vla.lam.configuration import LAMConfig
    from vla.lam.modeling import LatentActionModel
    from vla.lam.probe import code_grid

    model = LatentActionModel(LAMConfig(codebook_size=4, action_dim=3, label_weight=1.0))
    titles = []
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", lambda self, t, **kw: titles.append(t))
    frames = torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8)
    assert code_grid(model, frames, frames, tmp_path / "g.png").is_file()
    assert titles[:2] == ["o_t", "o_t+k"] and len(titles) == 6
    assert all("\na=" in t and len(t.split("a=")[1].split(",")) == 3 for t in titles[2:])  # xyz per code


def test_ray_labelling_writes_what_local_labelling_writes(local_ray, trained_lam, tmp_path):
    """engine=ray: two Ray actors, each loading the LAM once, label the store exactly as the local loop does."""
    ckpt = str(trained_lam[0] / "model")
    local_url = lam_support.copy_store(tmp_path / "local.zarr")
    ray_url = lam_support.copy_store(tmp_path / "ray.zarr")
    assert label_with_lam(ckpt, local_url) == label_with_lam(ckpt, ray_url, engine="ray", workers=2)
    local, remote = FrameStore(local_url), FrameStore(ray_url)
    for vid in local.video_ids():
        np.testing.assert_array_equal(remote.read_array(vid, "latent_actions"), local.read_array(vid, "latent_actions"))
        assert remote.array_attrs(vid, "latent_actions") == local.array_attrs(vid, "latent_actions")
    assert label_with_lam(ckpt, ray_url, engine="ray")["skipped"] == len(local.video_ids())  # same hash: skipped


def test_labels_of_a_lam_with_a_gap_in_seconds_take_each_videos_fps(tmp_path):
    """gap_s=0.1: 8 frames in the 80 fps video, 3 in the 30 fps one; the attrs say which, and in seconds."""
    from vla.lam.modeling import LatentActionModel

    url = str(tmp_path / "s.zarr")
    store = FrameStore(url, mode="w")
    rng = np.random.default_rng(0)
    for vid, fps in (("sim", 80), ("camera", 30)):
        store.add_video(vid, rng.integers(0, 256, (fps, 32, 32, 3), dtype=np.uint8), {"fps": fps})
    ckpt = LatentActionModel(lam_support.tiny_lam_cfg(image_size=32, gap_s=0.1)).save_pretrained(tmp_path / "lam")
    label_with_lam(str(ckpt), url)
    for vid, fps, k in (("sim", 80, 8), ("camera", 30, 3)):
        assert store.read_array(vid, "latent_actions").shape[0] == fps - k
        assert (store.array_attrs(vid, "latent_actions")["gap"], store.array_attrs(vid, "latent_actions")["gap_s"]) == (k, 0.1)
