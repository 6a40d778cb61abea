"""What every console script shares: the --help text it prints and how it ends on an error.

A script describes itself in a `Command` and runs its body through `run_main`, which answers -h/--help
(before Hydra or rclpy sees the arguments), and turns an expected error (a bad checkpoint, a missing
dataset or store, an unknown key, a bad value, a missing ROS parameter) into one line on stderr and exit
status 2. Any other exception is a bug and keeps its traceback; --debug or VLA_DEBUG=1 keeps it for all.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HELP_FLAGS = ("-h", "--help")
# Errors a user causes and can fix from the message alone. Named by module so that checking one imports
# nothing: an error of a class whose module was never imported cannot have been raised.
EXPECTED_ERRORS = [("vla.core.checkpoint", "CheckpointError"), ("vla.data.store", "StoreError"),
                   ("vla.data.ingest", "IngestError"), ("vla.data.workers", "WorkerDied"),
                   ("rclpy.exceptions", "InvalidParameterValueException"),
                   ("rclpy.exceptions", "InvalidParameterTypeException")]
# A ValueError raised by the project's own code names a bad value on purpose; one raised inside a library
# (torch, numpy) means the project passed it something wrong: a bug.
PROJECT_PACKAGES = [Path(__file__).resolve().parents[2] / name for name in ("vla", "robot")]


@dataclass(frozen=True)
class Command:
    """What `<prog> --help` prints."""
    prog: str
    summary: str                                          # what the command does, a line or two
    usage: tuple[str, ...]
    subcommands: dict[str, str] = field(default_factory=dict)
    hydra: bool = True                                    # composes configs/: list its groups, take --cfg job
    keys: dict[str, str | None] = field(default_factory=dict)   # None: the comment beside the key in configs/
    arguments: dict[str, tuple] = field(default_factory=dict)   # name -> (default, description, (lo, hi) | None)
    arguments_title: str = "parameters"
    examples: tuple[str, ...] = ()


def run_main(command: Command, run: Callable[[list[str]], object], argv: list[str] | None = None) -> None:
    """The body of every console script's main(): `run(argv)` with --help, --debug and expected errors
    handled as the module docstring says."""
    argv = list(sys.argv[1:] if argv is None else argv)
    own_args = argv[:argv.index("--ros-args")] if "--ros-args" in argv else argv
    if any(a in HELP_FLAGS for a in own_args):
        print(format_help(command))
        return
    debug = "--debug" in argv or os.environ.get("VLA_DEBUG") == "1"
    if debug:
        os.environ["VLA_DEBUG"] = "1"   # the stages a command runs as subprocesses keep their tracebacks too
    argv = [a for a in argv if a != "--debug"]
    try:
        run(argv)
    except Exception as e:
        if debug or not is_expected(e):
            raise
        where = f"{command.prog} {argv[0]}" if argv and argv[0] in command.subcommands else command.prog
        print(f"{where}: {one_line(e)}", file=sys.stderr)
        raise SystemExit(2) from None


def is_expected(e: BaseException) -> bool:
    expected = tuple(getattr(sys.modules[module], name) for module, name in EXPECTED_ERRORS if module in sys.modules)
    if isinstance(e, (*expected, FileNotFoundError, FileExistsError)):
        return True
    return isinstance(e, ValueError) and _raised_in_project(e)


def _raised_in_project(e: BaseException) -> bool:
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    where = Path(tb.tb_frame.f_code.co_filename).resolve()
    return any(where.is_relative_to(package) for package in PROJECT_PACKAGES)


def one_line(e: BaseException) -> str:
    return "; ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__


def console_script(name: str) -> str:
    """The console script installed next to this interpreter (works inside and outside the venv)."""
    import shutil

    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


def split_subcommand(command: Command, argv: list[str]) -> tuple[str, list[str]]:
    """(subcommand, the rest), or UsageError naming the subcommands there are."""
    from vla.core.config import UsageError

    if argv and argv[0] in command.subcommands:
        return argv[0], argv[1:]
    got = f"unknown subcommand {argv[0]!r}" if argv else "no subcommand given"
    raise UsageError(f"{got} (choose {' | '.join(command.subcommands)}; see {command.prog} --help)")


# ---------------------------------------------------------------------------------------------- help text
def format_help(command: Command) -> str:
    sections = [f"{command.prog}: {command.summary}", _section("usage", [(u, "") for u in command.usage])]
    if command.subcommands:
        sections.append(_section("subcommands", command.subcommands.items()))
    if command.hydra:
        sections.append(_section("config groups (group=option, the default first)", _group_rows()))
    if command.keys:
        sections.append(_section("keys people change most (key=default; any key `--cfg job` prints can be set)",
                                 _key_rows(command.keys)))
    if command.arguments:
        sections.append(_section(command.arguments_title, _argument_rows(command.arguments)))
    if command.examples:
        sections.append(_section("examples", [(e, "") for e in command.examples]))
    flags = [("-h, --help", "this text")]
    if command.hydra:
        flags.append(("--cfg job", "print the composed config and exit (add --resolve to fill in ${...})"))
    flags.append(("--debug", "the full traceback for any error (or VLA_DEBUG=1); expected errors are one line, exit 2"))
    sections.append(_section("options", flags))
    return "\n\n".join(sections)


def _section(title: str, rows, max_width: int = 38) -> str:
    """Two columns; a name wider than `max_width` gets its text on the next line."""
    rows = list(rows)
    width = min(max_width, max((len(name) for name, text in rows if text), default=0))
    lines = []
    for name, text in rows:
        if text and len(name) > width:
            lines += [f"  {name}", f"  {'':<{width}}  {text}"]
        else:
            lines.append(f"  {name:<{width}}  {text}".rstrip())
    return f"{title}:\n" + "\n".join(lines)


def _group_rows() -> list[tuple[str, str]]:
    from vla.core.config import config_groups, group_defaults

    defaults = group_defaults()
    optional = "   (optional: a preset over the rest)"
    return [(f"{group}={'|'.join(options)}" + ("" if defaults.get(group) else optional), "")
            for group, options in config_groups().items()]


def _key_rows(keys: dict[str, str | None]) -> list[tuple[str, str]]:
    from vla.core.config import documented_keys

    documented = documented_keys()
    rows = []
    for key, text in keys.items():
        value, comment = documented[key]   # KeyError: a help names a key configs/ no longer has
        rows.append((f"{key}={value}", text if text is not None else comment))
    return rows


def _argument_rows(arguments: dict[str, tuple]) -> list[tuple[str, str]]:
    rows = []
    for name, (default, description, bounds) in arguments.items():
        shown = '""' if default == "" else ("(required)" if default is None else default)
        limits = f"  [{bounds[0]}, {bounds[1]}]" if bounds else ""
        rows.append((f"{name}={shown}", f"{description}{limits}"))
    return rows
