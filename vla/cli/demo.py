"""`vla-demo`: the whole pipeline end to end on embedded defaults, then a report (vla.pipeline.demo: every
stage the real console script; finished stages reused, killed ones resumed).

    vla-demo                       # CPU scale (~20 min on 2 cores)
    vla-demo scale=tiny            # the smallest pipeline (the test suite runs this)
    vla-demo scale=gpu             # sizes worth a GPU machine (docs/demo.md)
    vla-demo scale=cpu seed=1      # any other key=value goes to every stage
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from vla.core.command import Command, run_main
from vla.core.config import UsageError, cli_config, setup_logging

SCALES = ("tiny", "cpu", "gpu")
COMMAND = Command(
    prog="vla-demo",
    summary="the whole pipeline end to end on simulated data (sim, ingest, lam, idm, pretrain, finetune, eval,\n"
            "ros, experiment), each stage the real console script, then a report. Finished stages are reused.",
    usage=("vla-demo [scale=tiny|cpu|gpu] [key=value ...]   (any key=value or group=option goes to every stage)",),
    arguments={"scale": ("cpu", "tiny: the smallest pipeline (what the tests run); cpu: ~20 min on 2 cores "
                                "(experiment=demo); gpu: sizes worth a GPU (experiment=demo_gpu)", None)},
    arguments_title="demo options",
    examples=("vla-demo", "vla-demo scale=tiny", "vla-demo scale=cpu seed=1 policy=smolvlm2"),
)


def parse_args(argv: list[str]) -> tuple[str, list[str]]:
    scale, overrides = "cpu", []
    for arg in argv:
        if arg.startswith(("scale=", "demo.scale=")):
            scale = arg.split("=", 1)[1]
            if scale not in SCALES:
                raise UsageError(f"scale must be one of {'|'.join(SCALES)}, got {scale!r}")
        else:
            overrides.append(arg)
    return scale, overrides


def run(argv: list[str]) -> None:
    setup_logging()
    scale, extra = parse_args(argv)
    overrides = [f"experiment={'demo' if scale == 'cpu' else 'demo_' + scale}", *extra]
    cfg = cli_config(overrides)
    from vla.pipeline.demo import run_demo

    t0 = time.perf_counter()
    report, out_dir, headline = run_demo(cfg, overrides)
    print(f"\n[demo] finished in {(time.perf_counter() - t0) / 60:.1f} min")
    print(f"[demo] report:     {report}")
    print(f"[demo] plots:      {out_dir}")
    print(f"[demo] checkpoint: {Path(cfg.paths.finetune) / 'model'}")
    for line in headline:
        print(f"[demo] {line}")


def main(argv: list[str] | None = None) -> None:
    run_main(COMMAND, run, argv)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
