"""Driver for `accelerate launch` in the distributed tests: every model the stack trains (LAM, IDM, stage 2, stage 3),
as vla-lam / vla-idm / vla-pretrain / vla-finetune run them.

It composes the Hydra config from `key=value` overrides and calls the same entry points as the console
scripts (vla.pipeline.stages). Every rank then writes a digest of its trained weights, so the test can
check that the data-parallel replicas stayed identical (each rank draws different batches; only DDP's
gradient all-reduce keeps them equal).
"""

import hashlib
import json
import sys
from pathlib import Path

import torch
from accelerate import PartialState

import vla.idm.train
import vla.lam.train
import vla.policy.finetune
import vla.policy.pretrain
from vla.core.config import load_config, setup_logging
from vla.pipeline.stages import run_finetune, run_idm, run_lam, run_pretrain


def weights_digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()


def record_trained_models(module, trained: list):
    loop = module.train_loop

    def recording_loop(model, *a, **kw):
        trained.append(model)
        return loop(model, *a, **kw)

    module.train_loop = recording_loop


def main():
    setup_logging()
    cfg = load_config(sys.argv[1:])
    trained: list = []
    for module in (vla.lam.train, vla.idm.train, vla.policy.pretrain, vla.policy.finetune):
        record_trained_models(module, trained)
    run_lam(cfg)
    run_idm(cfg)
    run_pretrain(cfg)
    run_finetune(cfg)
    state = PartialState()
    report = {"world_size": state.num_processes, "distributed_type": str(state.distributed_type),
              "digests": [weights_digest(p) for p in trained]}
    (Path(cfg.paths.root) / f"rank{state.process_index}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
