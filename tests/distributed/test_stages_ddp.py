"""Every model under `accelerate launch`, 2 CPU processes: the LAM, the IDM, stage 2 (latent pretraining) and
stage 3 (LoRA action finetuning), through the one training loop (vla.core.training)."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ddp_support import REPO_ROOT, accelerate_env, accelerate_launch

from vla.data.metaworld_env import MetaWorldTask, task_instruction
from vla.policy.modeling_vla import VLAPolicy

DRIVER = Path(__file__).with_name("train_stages.py")
TINY_RUN = [f"{stage}.train.{k}={v}" for stage in ("lam", "idm", "pretrain", "finetune")
            for k, v in (("steps", 2), ("batch_size", 2), ("warmup_steps", 1), ("eval_every", 2), ("ckpt_every", 2),
                         ("device", "cpu"))] + ["lam.train.vq_warmup=1", "lam.train.vq_init_batches=1",
                                                "lam.train.eval_batches=1", "lam.train.eval_fraction=0.5"]
MODELS = ("lam", "idm", "pretrain", "finetune")


@pytest.fixture(scope="session")
def latent_store(tmp_path_factory) -> Path:
    """A zarr frame store of 2 short MetaWorld videos with (random) 4-token latent labels."""
    from vla.data.store import FrameStore

    url = tmp_path_factory.mktemp("ddp_store") / "frames.zarr"
    store = FrameStore(url, mode="w")
    rng = np.random.default_rng(0)
    with MetaWorldTask("reach-v3", image_size=64) as env:
        for v in range(2):
            obs = env.reset(seed=v)
            frames = [obs["image"]] + [env.step(env.expert_action()).obs["image"] for _ in range(7)]
            store.add_video(f"vid{v}", np.stack(frames), {"instruction": env.instruction, "fps": 80})
            store.write_array(f"vid{v}", "latent_actions", rng.integers(0, 8, (len(frames), 4)), {"codebook_size": 8})
    return url


@pytest.fixture(scope="session")
def stages_run(latent_store, ddp_dataset, tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("ddp_stages")
    # paths.backbone does not exist yet: both ranks build the tiny backbone at once (policy=tiny).
    overrides = [f"paths.root={root}", f"paths.frames={latent_store}", f"paths.teleop={ddp_dataset}",
                 "policy=tiny", *TINY_RUN]
    proc = subprocess.run(accelerate_launch(str(DRIVER), *overrides), cwd=REPO_ROOT, env=accelerate_env(),
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    return root, [json.loads((root / f"rank{r}.json").read_text()) for r in range(2)]


def test_every_model_trained_as_one_two_process_ddp_group(stages_run):
    _, ranks = stages_run
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert all(r["distributed_type"].endswith("MULTI_CPU") for r in ranks)


def test_replicas_stay_identical_after_training(stages_run):
    _, ranks = stages_run
    # Each rank draws different batches: equal weights at the end mean DDP averaged every gradient.
    assert len(ranks[0]["digests"]) == len(MODELS)
    for model, rank0, rank1 in zip(MODELS, ranks[0]["digests"], ranks[1]["digests"]):
        assert rank0 == rank1, f"{model}: the replicas diverged"


def test_lam_and_idm_checkpoints_load(stages_run):
    from vla.idm.modeling import InverseDynamicsModel
    from vla.lam.modeling import LatentActionModel

    root, _ = stages_run
    lam = LatentActionModel.from_pretrained(root / "lam" / "model")
    assert bool(lam.vq.initialised)  # the k-means init ran (after vq_warmup=1) on both ranks alike
    assert json.loads((root / "lam" / "diagnostics.json").read_text())["history"][-1]["step"] == 2
    InverseDynamicsModel.from_pretrained(root / "idm" / "model")
    assert json.loads((root / "idm" / "metrics.json").read_text())["history"][-1]["step"] == 2


def test_stage2_checkpoint_loads(stages_run):
    root, _ = stages_run
    policy = VLAPolicy.from_pretrained(root / "pretrain" / "model")
    assert (policy.config.n_tokens, policy.config.codebook_size) == (4, 8)
    assert json.loads((root / "pretrain" / "metrics.json").read_text())["history"][-1]["step"] == 2


def test_stage3_checkpoint_loads_and_predicts_chunks(stages_run):
    root, _ = stages_run
    policy = VLAPolicy.from_pretrained(root / "finetune" / "model")
    assert policy.lora_applied
    obs = {"observation.image": np.zeros((1, 64, 64, 3), np.uint8), "observation.state": np.zeros((1, 4), np.float32),
           "task": [task_instruction("reach-v3")]}
    chunk = policy.predict_action_chunk(obs)
    assert chunk.shape == (1, policy.config.chunk_size, 4) and bool(chunk.isfinite().all())
