"""The demo pipeline at its smallest scale, end to end, exactly as `make demo ARGS=scale=tiny` runs it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("demo")
    vla_demo = Path(sys.executable).with_name("vla-demo")
    proc = subprocess.run([str(vla_demo), "scale=tiny"], cwd=cwd, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    reports = sorted((cwd / "outputs" / "demo_tiny").glob("*/report.md"))
    assert len(reports) == 1, proc.stdout[-2000:]
    return cwd, reports[0], proc.stdout


def test_demo_prints_where_results_are(demo_run):
    cwd, report, stdout = demo_run
    assert f"report:     outputs/demo_tiny/{report.parent.name}/report.md" in stdout
    assert "checkpoint: outputs/demo_tiny/work/experiment/latent_demosall/model" in stdout
    for stage in ("sim", "ingest", "lam", "idm", "pretrain", "finetune", "eval", "ros", "experiment"):
        assert f"[demo] {stage} " in stdout


def test_every_report_artefact_exists_and_is_non_trivial(demo_run):
    cwd, report, _ = demo_run
    text = report.read_text()
    assert "not produced" not in text
    assert "gap 0.05 s = 4 frames at 80 fps" in text  # the LAM's gap, in seconds and in frames at the sim's fps
    images = [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    assert len(images) == 8
    for name in images:
        with Image.open(report.parent / name) as im:
            assert im.size[0] > 100 and im.size[1] > 100
            assert len(set(im.convert("L").getdata())) > 10  # a drawn plot, not a blank canvas
    summary = json.loads((report.parent / "summary.json").read_text())
    assert summary["lam"]["eval_perplexity"] >= 1.0 and "probe_r2_shuffled" in summary["lam"]
    assert summary["eval"]["n"] >= 1 and 0.0 <= summary["eval"]["success_rate"] <= 1.0
    assert summary["ros"]["episodes"] >= 1 and summary["ros"]["command_rate_hz"] > 0
    assert (report.parent / "report.html").read_text().count("<img") == 8
    model = cwd / "outputs/demo_tiny/work/experiment/latent_demosall/model"
    assert (model / "model.safetensors").stat().st_size > 10_000
    rows = json.loads((cwd / "outputs/demo_tiny/work/experiment/results.json").read_text())["rows"]
    assert sorted(r["arm"] for r in rows) == ["idm", "latent", "latent_labels", "none"]


def test_rerun_reuses_every_finished_stage(demo_run):
    cwd, _, _ = demo_run
    vla_demo = Path(sys.executable).with_name("vla-demo")
    proc = subprocess.run([str(vla_demo), "scale=tiny"], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("— reused") == 9


def test_a_stage_done_under_another_config_runs_again(tmp_path):
    from omegaconf import OmegaConf

    from vla.pipeline.demo import Stage, run_stage

    stage = Stage("touch", [["touch", str(tmp_path / "ran")]], hydra=False)
    cfg = OmegaConf.create({"lam": {"train": {"steps": 10}}})
    assert run_stage(stage, [], tmp_path, cfg)["reused"] is False
    (tmp_path / "ran").unlink()
    assert run_stage(stage, [], tmp_path, cfg)["reused"] is True and not (tmp_path / "ran").exists()
    cfg.lam.train.steps = 20
    assert run_stage(stage, [], tmp_path, cfg)["reused"] is False and (tmp_path / "ran").exists()


def test_a_killed_stage_resumes_and_a_changed_one_starts_over(tmp_path):
    from omegaconf import OmegaConf

    from vla.pipeline.demo import Stage, run_stage

    argv = tmp_path / "argv.json"
    stage = Stage("train", [[Path(sys.executable).name, "-c",
                             f"import json, sys; open({str(argv)!r}, 'w').write(json.dumps(sys.argv))"]])
    cfg = OmegaConf.create({"lam": {"train": {"steps": 10}}})
    run_stage(stage, ["experiment=demo_tiny"], tmp_path, cfg)  # no marker: first run or killed part-way
    assert json.loads(argv.read_text())[1:] == ["experiment=demo_tiny", "resume=true"]
    cfg.lam.train.steps = 20  # the old checkpoints belong to another config: do not resume them
    run_stage(stage, ["experiment=demo_tiny"], tmp_path, cfg)
    assert json.loads(argv.read_text())[1:] == ["experiment=demo_tiny", "resume=false"]
