import pytest

from vla.data.ingest import IngestConfig, ingest
from vla.data.sim import SimConfig, generate

TINY_SIM = SimConfig(tasks=("reach-v3",), video_episodes_per_task=3, teleop_episodes_per_task=2,
                     image_size=32, max_steps=70, tail_steps=2, workers=2, seed=0)


@pytest.fixture(scope="session")
def tiny_sim():
    return TINY_SIM


@pytest.fixture(scope="session")
def sim_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    result = generate(TINY_SIM, root / "videos", root / "teleop")
    return root, result


@pytest.fixture(scope="session")
def frame_store(sim_corpus, tmp_path_factory):
    root, _ = sim_corpus
    url = str(tmp_path_factory.mktemp("store") / "frames.zarr")
    report = ingest(str(root / "videos"), url, IngestConfig(image_size=32, min_frames=8, workers=1))
    return url, report
