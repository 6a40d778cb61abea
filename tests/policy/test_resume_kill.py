"""A SIGKILLed `vla-pretrain` resumes from its newest checkpoint with `resume=true`."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _cmd(out, store, backbone, *extra):
    script = Path(sys.executable).with_name("vla-pretrain")
    return [str(script), f"paths.frames={store}", f"paths.backbone={backbone}", f"paths.pretrain={out}",
            "pretrain.train.steps=400", "pretrain.train.batch_size=4", "pretrain.train.ckpt_every=2",
            "pretrain.train.eval_every=1000", "pretrain.train.device=cpu", "pretrain.max_videos=3", *extra]


@pytest.mark.slow
def test_killed_pretraining_resumes_from_its_checkpoint(tmp_path, store_url, backbone_dir):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    out = tmp_path / "run"
    proc = subprocess.Popen(_cmd(out, store_url, backbone_dir), cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpts = out / "checkpoints"
    try:
        deadline = time.monotonic() + 240
        while not (ckpts.is_dir() and any(p.name.startswith("step_") for p in ckpts.iterdir())):
            assert proc.poll() is None, "vla-pretrain exited before writing a checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert not (out / "model").exists()
    killed_at = max(int(p.name[5:]) for p in ckpts.iterdir() if p.name.startswith("step_"))
    done = subprocess.run(_cmd(out, store_url, backbone_dir, "resume=true", f"pretrain.train.steps={killed_at + 2}"),
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from"] == killed_at
    assert [h["step"] for h in metrics["history"]] == list(range(1, killed_at + 3))
    assert (out / "model" / "manifest.json").is_file()
