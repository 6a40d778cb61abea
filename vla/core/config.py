"""Compose the Hydra config in configs/ for every console script, and describe it for --help and errors.

The compose API (not @hydra.main) is used so each CLI can take a subcommand
(`vla-data sim ...`) and so nothing changes the working directory; `cli_config` gives
the scripts Hydra's `--cfg job`. An override Hydra refuses becomes a UsageError whose one
line names it and the nearest valid key or option.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf


class UsageError(ValueError):
    """The command line names something that does not exist (a config key, a group option, a subcommand)
    or cannot be read; the message says which, and what is near it."""


def config_dir() -> Path:
    """configs/ of a source checkout (editable install), else the copy packaged in the wheel."""
    env = os.environ.get("VLA_CONFIG_DIR")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parents[2]
    candidates += [here / "configs", Path(__file__).resolve().parents[1] / "_configs"]
    for c in candidates:
        if (c / "config.yaml").is_file():
            return c
    raise FileNotFoundError(f"no Hydra config directory found (looked in {[str(c) for c in candidates]})")


def _compose(overrides: list[str], config_name: str = "config") -> DictConfig:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides)


def load_config(overrides: list[str] | None = None, config_name: str = "config") -> DictConfig:
    """The composed config with `overrides` (Hydra's key=value / group=option / +experiment=x syntax).
    An override Hydra refuses raises UsageError naming it (and the nearest valid key or option)."""
    overrides = list(overrides or [])
    try:
        return _compose(overrides, config_name)
    except HydraException as e:
        raise UsageError(override_problem(e, overrides)) from e


def cli_config(args: list[str]) -> DictConfig:
    """load_config for a console script. `--cfg job` (as with @hydra.main) prints the composed config and
    exits; `--resolve` next to it resolves the ${...} interpolations first."""
    args = list(args)
    if "--cfg" not in args:
        return load_config(args)
    at = args.index("--cfg")
    what = args[at + 1] if at + 1 < len(args) else ""
    if what != "job":
        raise UsageError(f"--cfg takes 'job' (print the composed config), got {what!r}")
    del args[at:at + 2]
    resolve = "--resolve" in args
    cfg = load_config([a for a in args if a != "--resolve"])
    print(OmegaConf.to_yaml(cfg, resolve=resolve), end="")
    raise SystemExit(0)


def override_problem(e: HydraException, overrides: list[str]) -> str:
    """One line for an override Hydra refused: what is wrong with it and, if it is a typo, what is near."""
    if isinstance(e, OverrideParseException):
        return f"cannot read {e.override!r} (overrides are key=value or group=option)"
    if isinstance(e, MissingConfigException) and e.options:   # group=option with no such option
        group, option = e.missing_cfg_file.split("/", 1)
        return f"config group {group} has no option {option!r} (choose {group}={'|'.join(e.options)})"
    key = getattr(e.__cause__, "full_key", None)   # OmegaConf names the key a struct config lacks
    if key:
        near = nearest_keys(key, config_keys(overrides))
        return f"unknown config key {key!r} " + (f"(did you mean {' or '.join(near)}?)" if near
                                                 else "(--cfg job prints the keys there are)")
    return str(e).strip().splitlines()[0]


def nearest_keys(key: str, keys: list[str], n: int = 3) -> list[str]:
    """The valid keys a mistyped `key` most likely meant: a near spelling of the whole dotted key first
    (lam.train.stepz), then the same last name elsewhere (init -> finetune.init), then a near last name."""
    close = difflib.get_close_matches(key, keys, n=n)
    if close:
        return close
    leaf = key.rsplit(".", 1)[-1]
    leaves = {k: k.rsplit(".", 1)[-1] for k in keys}
    same = [k for k, name in leaves.items() if name == leaf]
    if same:
        return same[:n]
    near = set(difflib.get_close_matches(leaf, set(leaves.values()), n=n))
    return [k for k, name in leaves.items() if name in near][:n]


def config_keys(overrides: list[str] = ()) -> list[str]:
    """Every dotted key of the config composed with the group choices among `overrides` (an experiment
    can add keys of its own)."""
    groups = config_groups()
    choices = [o for o in overrides if o.split("=", 1)[0].lstrip("+") in groups]
    try:
        cfg = _compose(choices)
    except HydraException:
        cfg = _compose([])
    return list(_dotted(OmegaConf.to_container(cfg, resolve=False)))


def _dotted(tree: dict, prefix: str = ""):
    for name, value in tree.items():
        yield prefix + name
        if isinstance(value, dict):
            yield from _dotted(value, f"{prefix}{name}.")


def config_groups() -> dict[str, list[str]]:
    """Each config group (a folder of configs/) -> its options, the default first, in the order the root
    config lists its defaults. An optional group (experiment: null) has no default."""
    root = config_dir()
    defaults = group_defaults()
    groups = {}
    for group in [*defaults, *sorted(d.name for d in root.iterdir() if d.is_dir() and d.name not in defaults)]:
        options = sorted(f.stem for f in (root / group).glob("*.yaml"))
        default = defaults.get(group)
        groups[group] = [default, *[o for o in options if o != default]] if default in options else options
    return groups


def group_defaults() -> dict[str, str | None]:
    entries = OmegaConf.to_container(OmegaConf.load(config_dir() / "config.yaml").defaults)
    return {group: option for entry in entries if isinstance(entry, dict) for group, option in entry.items()}


_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):(?P<value>[^#]*)(?:#\s*(?P<comment>.*))?$")


def documented_keys() -> dict[str, tuple[str, str]]:
    """Every key of the default configs -> (its value as written, the comment beside it), for --help: the
    descriptions live next to the values they describe, in configs/."""
    root = config_dir()
    files = [(root / "config.yaml", "")]
    for group, option in group_defaults().items():
        if option is not None:
            path = root / group / f"{option}.yaml"
            files.append((path, "" if "@package _global_" in path.read_text() else group + "."))
    keys = {}
    for path, package in files:
        parents: list[tuple[int, str]] = []   # (indent, key) of the enclosing mappings
        for line in path.read_text().splitlines():
            m = _KEY_LINE.match(line)
            if not m or m["key"] == "defaults":
                continue
            indent = len(m["indent"])
            parents = [(i, k) for i, k in parents if i < indent]
            dotted = package + ".".join([k for _, k in parents] + [m["key"]])
            keys[dotted] = (m["value"].strip(), (m["comment"] or "").strip())
            parents.append((indent, m["key"]))
    return keys


def save_config(cfg: DictConfig, out_dir: str | Path, name: str = "config.yaml") -> Path:
    """Every run keeps its resolved config next to its results."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    return path


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # MuJoCo needs a GL backend chosen before it is imported; EGL renders headless.
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def to_dataclass(cls, section: DictConfig, exclude: tuple[str, ...] = (), **extra):
    """The one way a config section becomes the dataclass a stage takes: `cls(**section, **extra)`, the
    section resolved, the keys in `exclude` (the section's own, e.g. a path the dataclass does not hold)
    left out. A key that `cls` does not take is refused by name, so a typo in a yaml is never ignored."""
    from dataclasses import fields

    values = {k: v for k, v in OmegaConf.to_container(section, resolve=True).items() if k not in exclude}
    values.update(extra)
    unknown = sorted(set(values) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"{cls.__name__} takes no {', '.join(unknown)} (a key in the config it is made from)")
    return cls(**values)
