"""The demo's report: one markdown page (and an HTML copy) built from the files each stage wrote.

Nothing here computes a result; it reads the stages' JSON and copies their PNGs next to
the report, so the report is exactly what the stages measured.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from types import SimpleNamespace


def _json(path) -> dict:
    p = Path(path)
    return json.loads(p.read_text()) if p.is_file() else {}


def gap_text(gap: dict) -> str:
    """The LAM's frame gap as run: seconds (if set) and frames at each fps of the store."""
    frames = ", ".join(f"{k} frames at {fps} fps" for fps, k in gap.get("frames_by_fps", {}).items())
    return (f"gap {gap['seconds']:g} s = {frames}" if gap.get("seconds") else f"gap {frames}") if frames else "gap ?"


def _f(x, fmt=".3f") -> str:
    return format(x, fmt) if isinstance(x, (int, float)) else "n/a"


def _ros_json(cfg) -> dict:
    return _json(Path(cfg.paths.root) / "ros" / "ros_loop.json")


def _rate(info: dict) -> str:
    o = info.get("overall", {})
    if not o:
        return "n/a"
    lo, hi = o["ci95"]
    return f"{o['successes']}/{o['n']} = {o['success_rate']:.2f} (95% CI {lo:.2f}–{hi:.2f})"


# One line per stage for the console, read from what the stage wrote.
stage_metrics = SimpleNamespace(
    sim=lambda cfg: (lambda s: f"{s.get('videos')} videos (expert success {_f(s.get('video_success_rate'), '.2f')}), "
                     f"{s.get('teleop_episodes')} teleop episodes")(_json(Path(cfg.paths.sim) / "summary.json")),
    ingest=lambda cfg: (lambda s: f"{s.get('frames')} frames, {_f(s.get('bytes_on_disk', 0) / 1e6, '.1f')} MB, "
                        f"compression {_f(s.get('compression_ratio'), '.1f')}x")(
        _json(str(cfg.paths.frames).rstrip("/") + ".ingest_report.json")),
    lam=lambda cfg: (lambda d: f"recon/copy {_f(d.get('final', {}).get('recon_vs_copy'))}, perplexity "
                     f"{_f(d.get('final', {}).get('eval_perplexity'), '.2f')}, probe R² {_f(d.get('final', {}).get('probe_r2'))} "
                     f"vs shuffled {_f(d.get('final', {}).get('probe_r2_shuffled'))}; {gap_text(d.get('gap', {}))}")(
        _json(Path(cfg.paths.lam) / "diagnostics.json")),
    idm=lambda cfg: (lambda m: f"held-out R² {_f(m.get('eval_r2'))} (untrained {_f(m.get('untrained_eval_r2'))})")(
        _json(Path(cfg.paths.idm) / "metrics.json")),
    pretrain=lambda cfg: (lambda h: f"code accuracy {_f(h.get('eval_acc'))} vs majority {_f(h.get('majority_acc'))}")(
        (_json(Path(cfg.paths.pretrain) / "metrics.json").get("evals") or [{}])[-1]),
    finetune=lambda cfg: (lambda m: f"final loss {_f((m.get('history') or [{}])[-1].get('loss'), '.4f')}")(
        _json(Path(cfg.paths.finetune) / "metrics.json")),
    eval=lambda cfg: f"success {_rate(_json(Path(cfg.paths.eval) / 'eval_info.json'))}",
    ros=lambda cfg: (lambda r: f"{r.get('episodes')} episodes over DDS, command rate {_f(r.get('command_rate_hz'), '.1f')} Hz")(
        _ros_json(cfg)),
    experiment=lambda cfg: "; ".join(f"{r['arm']}: {r['success_rate']:.2f}" for r in
                                     _json(Path(cfg.paths.experiment) / "results.json").get("rows", [])),
)


def _copy(src: Path, out_dir: Path, name: str) -> str | None:
    if not src.is_file():
        return None
    shutil.copy(src, out_dir / name)
    return name


def _plot_ros(ros: dict, out_dir: Path) -> str | None:
    """The ROS loop's measured timing next to its targets (when the loop did not draw its own plot)."""
    if not ros:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    axes[0].bar(["target", "measured"], [ros.get("target_rate_hz", 0), ros.get("command_rate_hz", 0)],
                color=["grey", "tab:blue"])
    axes[0].set_title("command rate (Hz)")
    axes[1].bar(["p50", "p99"], [ros.get("tick_jitter_ms_p50", 0), ros.get("tick_jitter_ms_p99", 0)], color="tab:orange")
    axes[1].set_title("control tick jitter (ms)")
    axes[2].bar(["p50", "p99"], [ros.get("inference_ms_p50", 0), ros.get("inference_ms_p99", 0)], color="tab:green")
    axes[2].set_title("chunk inference latency (ms)")
    fig.suptitle(f"policy node over DDS: {ros.get('episodes')} episode(s) of {ros.get('task')}")
    fig.tight_layout()
    fig.savefig(out_dir / "ros_loop.png", dpi=110)
    plt.close(fig)
    return "ros_loop.png"


def write_report(cfg, records: list[dict], out_dir: Path) -> tuple[Path, list[str]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    p = cfg.paths
    sim = _json(Path(p.sim) / "summary.json")
    store = _json(str(p.frames).rstrip("/") + ".ingest_report.json")
    lam_diag = _json(Path(p.lam) / "diagnostics.json")
    lam, untrained_lam = lam_diag.get("final", {}), lam_diag.get("untrained", {})
    idm = _json(Path(p.idm) / "metrics.json")
    ev = _json(Path(p.eval) / "eval_info.json")
    ros = _ros_json(cfg)
    exp_md = Path(p.experiment) / "results.md"
    plots = {
        "codes": _copy(Path(cfg.lam.viz.out), out_dir, "lam_codes.png"),
        "lam_curves": _copy(Path(p.lam) / "curves.png", out_dir, "lam_curves.png"),
        "idm_curves": _copy(Path(p.idm) / "curves.png", out_dir, "idm_curves.png"),
        "pretrain": _copy(Path(p.pretrain) / "loss.png", out_dir, "pretrain_loss.png"),
        "finetune": _copy(Path(p.finetune) / "loss.png", out_dir, "finetune_loss.png"),
        "eval": _copy(Path(p.eval) / "success.png", out_dir, "eval_success.png"),
        "comparison": _copy(Path(p.experiment) / "results.png", out_dir, "comparison.png"),
        "ros": _copy(Path(p.root) / "ros" / "ros_loop.png", out_dir, "ros_loop.png") or _plot_ros(ros, out_dir),
    }
    checkpoint = Path(p.finetune) / "model"
    img = lambda key, alt: f"![{alt}]({plots[key]})" if plots[key] else f"*({alt}: not produced)*"
    lines = [
        "# Demo report", "",
        f"Scale: `{cfg.paths.root}`. Every number below was measured by the stage named; "
        "at demo scale the intervals are wide and the comparison is indicative only.", "",
        "## Stages", "", "| stage | time (s) | result |", "|---|---|---|",
        *[f"| {r['stage']} | {r['seconds']:.0f} | {r['metric']} |" for r in records], "",
        "## Data", "",
        f"- action-free videos: {sim.get('videos')} ({', '.join(cfg.data.sim.tasks)}), "
        f"expert success {_f(sim.get('video_success_rate'), '.2f')}",
        f"- labelled teleop episodes (LeRobot v3): {sim.get('teleop_episodes')} at `{p.teleop}`",
        f"- frame store `{p.frames}`: {store.get('videos')} videos, {store.get('frames')} frames, "
        f"{_f(store.get('bytes_on_disk', 0) / 1e6, '.1f')} MB on disk (compression {_f(store.get('compression_ratio'), '.1f')}x)"
        + (f", {len(store.get('skipped', []))} inputs skipped" if store.get("skipped") else ""), "",
        "## Latent action model", "",
        "| diagnostic | value | control |", "|---|---|---|",
        f"| frame gap | {gap_text(lam_diag.get('gap', {}))} | the change a code describes |",
        f"| reconstruction error / copy-last-frame | {_f(lam.get('recon_vs_copy'))} | 1.0 = no better than copying |",
        f"| codebook perplexity (held out) | {_f(lam.get('eval_perplexity'), '.2f')} | codebook size {cfg.lam.model.codebook_size} |",
        f"| codes in use (held out) | {_f(lam.get('eval_usage'), '.2f')} | fraction of the codebook |",
        f"| linear probe R² of the true action | {_f(lam.get('probe_r2'))} | shuffled codes: {_f(lam.get('probe_r2_shuffled'))}; "
        f"untrained LAM: {_f(untrained_lam.get('probe_r2'))} |",
        f"| IDM (VPT baseline) held-out action R² | {_f(idm.get('eval_r2'))} | untrained IDM: {_f(idm.get('untrained_eval_r2'))} |",
        "", img("codes", "what each latent code does: start frames (rows) x codes (columns)"), "",
        "## Training curves", "",
        img("lam_curves", "LAM"), img("idm_curves", "IDM"), img("pretrain", "stage 2 latent pretraining"),
        img("finetune", "stage 3 LoRA finetuning"), "",
        "## Closed-loop evaluation (LAM-pretrained policy)", "",
        f"Success: {_rate(ev)}.", "", img("eval", "success per task"), "",
        "## The comparison", "",
        exp_md.read_text().replace("# Pretraining comparison", "").strip() if exp_md.is_file() else "*(not produced)*",
        "", img("comparison", "success rate vs labelled demos per task, per arm"), "",
        "## The policy on the ROS 2 loop", "",
        (f"The same checkpoint drove the simulated robot through `vla-policy-node` over DDS for "
         f"{ros.get('episodes')} episode(s): command rate {_f(ros.get('command_rate_hz'), '.1f')} Hz, "
         f"control tick jitter p50/p99 {_f(ros.get('tick_jitter_ms_p50'), '.2f')}/{_f(ros.get('tick_jitter_ms_p99'), '.2f')} ms, "
         f"inference latency p50/p99 {_f(ros.get('inference_ms_p50'), '.1f')}/{_f(ros.get('inference_ms_p99'), '.1f')} ms, "
         f"successes {ros.get('successes')}, safety interventions {ros.get('safety_interventions_total')}."
         if ros else "*(not produced)*"),
        "", img("ros", "ROS loop timing"), "",
        "## Checkpoint", "", f"`{checkpoint}` — load it with `PolicyRunner('{checkpoint}')`, evaluate it with "
        f"`vla-eval eval.checkpoint={checkpoint}`, or run it on a robot with "
        f"`ros2 launch launch/robot.launch.py checkpoint:={checkpoint.resolve()}`.", "",
    ]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines))
    (out_dir / "report.html").write_text(_html("\n".join(lines)))
    (out_dir / "summary.json").write_text(json.dumps({"stages": records, "lam": lam, "idm": idm,
                                                      "eval": ev.get("overall", {}), "ros": ros}, indent=2))
    headline = [
        f"LAM probe R² {_f(lam.get('probe_r2'))} vs shuffled codes {_f(lam.get('probe_r2_shuffled'))}",
        f"closed-loop success (LAM-pretrained): {_rate(ev)}",
        "comparison: " + (stage_metrics.experiment(cfg) or "n/a"),
    ]
    return report, headline


def _html(markdown: str) -> str:
    """A dependency-free HTML view: headings, tables, images and paragraphs are all the report uses."""
    out, table = [], False
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-: "):
                continue
            if not table:
                out.append("<table border=1 cellpadding=4>")
                table = True
            out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            continue
        if table:
            out.append("</table>")
            table = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](", 1)
            out.append(f'<p><img src="{html.escape(src.rstrip(")"))}" alt="{html.escape(alt)}" style="max-width:800px"></p>')
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    if table:
        out.append("</table>")
    return "<!doctype html><meta charset=utf-8><title>Demo report</title>\n" + "\n".join(out)
