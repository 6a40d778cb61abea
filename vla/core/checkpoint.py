"""Checkpoints for every stage: safetensors + JSON, written atomically, verified on load.

Layout of one checkpoint directory:
    model.safetensors        the weights
    config.json              the model config; its "kind" names what wrote it ("lam", "idm"; the policy's is
                             LeRobot's config, whose "type" names it)
    ...                      files of the model's own (the policy's backbone.json and processors)
    train_state.safetensors  optional: optimiser tensors, flattened (for resume)
    train_state.json         optional: step, optimiser scalars and param groups, anything JSON-able
    manifest.json            sha256 of every file above, so a corrupt or truncated file is caught

A directory is written under a temporary name and renamed into place, so a killed run
leaves either the old checkpoint or the new one, never half of one. No pickle anywhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"
MANIFEST = "manifest.json"
# Hashed apart (weights, config), or not the model (training state, manifest, lerobot-train's run config).
NOT_MODEL = {WEIGHTS, CONFIG, STATE_TENSORS, STATE_JSON, MANIFEST, "train_config.json"}


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or was written by a different model/config."""


@dataclass
class Checkpoint:
    path: Path
    weights: dict[str, torch.Tensor]
    config: dict
    train_state: dict | None


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _split_tensors(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor in a nested dict/list with a {"__tensor__": key} reference."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        # JSON keys must be strings; optimiser state uses int keys, so remember which were ints.
        return {
            "__dict__": [[k, isinstance(k, int), _split_tensors(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]
        }
    if isinstance(obj, (list, tuple)):
        return [_split_tensors(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    return obj


def _join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict) and "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if isinstance(obj, dict) and "__dict__" in obj:
        return {(int(k) if was_int else k): _join_tensors(v, tensors) for k, was_int, v in obj["__dict__"]}
    if isinstance(obj, dict):
        return {k: _join_tensors(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_tensors(v, tensors) for v in obj]
    return obj


def _write_into(tmp: Path, weights: dict, config: dict, train_state: dict | None,
                write_more: Callable[[Path], None] | None) -> None:
    save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, str(tmp / WEIGHTS))
    (tmp / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True))
    if write_more is not None:
        write_more(tmp)
    if train_state is not None:
        tensors: dict[str, torch.Tensor] = {}
        skeleton = _split_tensors(train_state, "s", tensors)
        save_file(tensors, str(tmp / STATE_TENSORS))
        (tmp / STATE_JSON).write_text(json.dumps(skeleton))
    files = sorted(p.name for p in tmp.iterdir())
    manifest = {"format_version": FORMAT_VERSION, "files": {name: file_sha256(tmp / name) for name in files}}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))


def save_checkpoint(directory: str | Path, *, weights: dict[str, torch.Tensor], config: dict,
                    train_state: dict | None = None, write_more: Callable[[Path], None] | None = None) -> Path:
    """Write a checkpoint atomically: a reader sees the previous one or this one, never a mix.
    `write_more(dir)` adds the model's own files (listed in the manifest like the rest)."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        _write_into(tmp, weights, config, train_state, write_more)
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def _verify(directory: Path) -> None:
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint directory not found: {directory}")
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise CheckpointError(f"{manifest_path} is missing: not a checkpoint written by vla.core.checkpoint")
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (json.JSONDecodeError, KeyError) as e:
        raise CheckpointError(f"{manifest_path} is corrupt: {e}") from e
    for name, digest in files.items():
        path = directory / name
        if not path.is_file():
            raise CheckpointError(f"{path} is missing (listed in {manifest_path})")
        if file_sha256(path) != digest:
            raise CheckpointError(f"{path} is corrupt: its sha256 does not match {manifest_path}")


def checkpoint_kind(config: dict) -> str | None:
    """What wrote a checkpoint: its config's "kind" (LAM, IDM), or "type" (LeRobot's name for a policy type)."""
    return config.get("kind", config.get("type"))


def load_checkpoint(directory: str | Path, expected_kind: str | None = None,
                    with_train_state: bool = True) -> Checkpoint:
    """Load and verify a checkpoint; raise CheckpointError naming the file at fault."""
    directory = Path(directory)
    _verify(directory)
    try:
        config = json.loads((directory / CONFIG).read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{directory / CONFIG} is not valid JSON: {e}") from e
    kind = checkpoint_kind(config)
    if expected_kind is not None and kind != expected_kind:
        raise CheckpointError(f"{directory / CONFIG} is a {kind!r} checkpoint, expected {expected_kind!r}")
    try:
        weights = load_file(str(directory / WEIGHTS))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{directory / WEIGHTS} cannot be read: {e}") from e
    train_state = None
    if with_train_state and (directory / STATE_JSON).is_file():
        tensors = load_file(str(directory / STATE_TENSORS)) if (directory / STATE_TENSORS).is_file() else {}
        train_state = _join_tensors(json.loads((directory / STATE_JSON).read_text()), tensors)
    return Checkpoint(path=directory, weights=weights, config=config, train_state=train_state)


def checkpoint_hash(directory: str | Path) -> str:
    """Identity of the model in a checkpoint, independent of optimiser state: weights, config and every other
    file of the model's (the policy's processors and stats, also those lerobot-train writes beside its own)."""
    directory = Path(directory)
    _verify(directory)
    h = hashlib.sha256()
    for name in (WEIGHTS, CONFIG):
        h.update(file_sha256(directory / name).encode())
    for path in sorted(p for p in directory.iterdir() if p.is_file() and p.name not in NOT_MODEL):
        h.update(f"{path.name}:{file_sha256(path)}".encode())
    return h.hexdigest()[:16]


def check_config_matches(directory: Path, saved: dict, expected: dict, keys: list[str] | None = None) -> None:
    """Refuse to load weights into a model built from a different config, naming every key that differs."""
    keys = keys if keys is not None else sorted(set(saved) | set(expected))
    diff = {k: (saved.get(k), expected.get(k)) for k in keys if saved.get(k) != expected.get(k)}
    if diff:
        detail = ", ".join(f"{k}: checkpoint={a!r} vs requested={b!r}" for k, (a, b) in diff.items())
        raise CheckpointError(f"{Path(directory) / CONFIG} does not match the requested config ({detail})")


class CheckpointManager:
    """Periodic checkpoints of one run under run_dir/checkpoints/step_XXXXXXX, keeping the newest `keep`."""

    _STEP = re.compile(r"^step_(\d+)$")

    def __init__(self, run_dir: str | Path, keep: int = 2):
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.dir = Path(run_dir) / "checkpoints"
        self.keep = keep

    def steps(self) -> list[int]:
        if not self.dir.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.dir.iterdir() if (m := self._STEP.match(p.name)))

    def save(self, step: int, *, weights: dict[str, torch.Tensor], config: dict,
             train_state: dict | None = None, write_more: Callable[[Path], None] | None = None) -> Path:
        state = dict(train_state or {})
        state["step"] = int(step)
        path = save_checkpoint(self.dir / f"step_{step:07d}", weights=weights, config=config, train_state=state,
                               write_more=write_more)
        for old in self.steps()[: -self.keep]:
            shutil.rmtree(self.dir / f"step_{old:07d}", ignore_errors=True)
        log.info("checkpoint saved: %s", path)
        return path

    def latest(self) -> Path | None:
        """The newest checkpoint that verifies; a corrupt newest one is reported and skipped."""
        for step in reversed(self.steps()):
            path = self.dir / f"step_{step:07d}"
            try:
                _verify(path)
                return path
            except CheckpointError as e:
                log.warning("skipping unusable checkpoint: %s", e)
        return None


def load_weights(model: torch.nn.Module, weights: dict, directory: Path) -> None:
    """load_state_dict, but a shape/key mismatch names the checkpoint file."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(f"{directory / 'model.safetensors'} does not match the model: {e}") from e


class SavedConfig:
    """`from_dict` for a config dataclass read back from a checkpoint's config.json: keys the dataclass does not
    know (the checkpoint's "kind", a field an older version had) are left out."""

    @classmethod
    def from_dict(cls, d: dict):
        from dataclasses import fields

        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class DataclassCheckpoint:
    """save_pretrained / from_pretrained for a model whose whole config is the dataclass `self.cfg` (the LAM,
    the IDM): weights + {"kind": kind, **cfg} in one checkpoint directory. Subclasses set `kind` and
    `config_class`."""

    kind: str
    config_class: type

    def checkpoint_config(self) -> dict:
        from dataclasses import asdict

        return {"kind": self.kind, **asdict(self.cfg)}

    def checkpoint_weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.state_dict().items()}

    def save_pretrained(self, directory: str | Path, train_state: dict | None = None) -> Path:
        return save_checkpoint(directory, weights=self.checkpoint_weights(), config=self.checkpoint_config(),
                               train_state=train_state)

    @classmethod
    def from_pretrained(cls, directory: str | Path, expect=None):
        """The model in eval mode; `expect` (a config) must match the saved one, else CheckpointError."""
        from dataclasses import asdict

        ckpt = load_checkpoint(directory, expected_kind=cls.kind, with_train_state=False)
        cfg = cls.config_class.from_dict(ckpt.config)
        if expect is not None:
            check_config_matches(Path(directory), asdict(cfg), asdict(expect))
        model = cls(cfg)
        load_weights(model, ckpt.weights, Path(directory))
        return model.eval()
