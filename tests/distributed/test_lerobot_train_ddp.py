"""`lerobot-train` of `vla_latent` under `accelerate launch` with 2 CPU processes (gloo DDP)."""

import subprocess

from ddp_support import REPO_ROOT, accelerate_env, accelerate_launch

from vla.lerobot_plugin.modeling_vla_latent import VLALatentPolicy


def test_lerobot_train_runs_data_parallel_on_two_cpu_processes(ddp_dataset, tmp_path):
    out = tmp_path / "run"
    cmd = accelerate_launch(
        "-m", "lerobot.scripts.lerobot_train",
        "--policy.type=vla_latent", "--policy.discover_packages_path=vla.lerobot_plugin",
        "--dataset.repo_id=local/tiny_reach", f"--dataset.root={ddp_dataset}", "--steps=2", "--batch_size=2",
        "--num_workers=0", "--log_freq=1", "--save_freq=2", "--policy.push_to_hub=false", "--policy.device=cpu",
        "--wandb.enable=false", f"--output_dir={out}",
    )
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=accelerate_env(), capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    # Two ranks each draw a batch of 2: the effective batch is 4 only if the processes formed one DDP group.
    assert "Effective batch size: 2 x 2 = 4" in log, log[-3000:]
    policy = VLALatentPolicy.from_pretrained(out / "checkpoints" / "last" / "pretrained_model")
    assert all(p.isfinite().all() for p in policy.parameters())
