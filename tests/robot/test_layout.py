"""The dependency rules of robot/ (read from the source, so they hold for imports inside functions too):
robot uses vla.runtime, vla.data and vla.core but never vla.cli, nothing in vla/ imports robot, robot's
modules import each other without a circle, and the decision code imports neither rclpy nor torch."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (`from robot import loop` counts as robot.loop)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def within(modules: set[str], package: str) -> set[str]:
    return {m for m in modules if m == package or m.startswith(package + ".")}


def test_robot_never_imports_vla_cli_and_vla_never_imports_robot():
    for path in sorted((ROOT / "robot").glob("*.py")):
        assert not within(imported_modules(path), "vla.cli"), f"{path.name} imports vla.cli"
    for path in sorted((ROOT / "vla").rglob("*.py")):
        assert not within(imported_modules(path), "robot"), f"{path.relative_to(ROOT)} imports robot"


def test_robot_modules_import_each_other_without_a_circle():
    modules = {module_name(p): p for p in (ROOT / "robot").glob("*.py") if p.name != "__init__.py"}
    graph = {name: within(imported_modules(path), "robot") & modules.keys() for name, path in modules.items()}

    def circle_from(name: str, path: tuple) -> tuple | None:
        if name in path:
            return path[path.index(name):] + (name,)
        return next((c for dep in graph[name] if (c := circle_from(dep, path + (name,)))), None)

    for name in graph:
        assert circle_from(name, ()) is None, " -> ".join(circle_from(name, ()))


def test_decision_code_loop_and_recorder_import_without_rclpy_or_torch():
    """The pure modules load neither, and loop.py and record.py load rclpy only when they run (`vla-record
    bag=` needs only rosbags)."""
    code = ("import sys, robot.safety, robot.phase, robot.convert, robot.parameters, robot.interfaces, robot.loop, "
            "robot.record; print(sorted(m for m in ('rclpy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
