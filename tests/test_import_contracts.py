"""The import-linter contracts say what their names say: a forbidden list that misses a module or an
outside package added later would keep the contract while the rule it names no longer holds."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
STATS = "camseg_cli.core.evaluation.stats"
STATS_MAY_IMPORT = {"camseg_cli.core.errors", "numpy", "scipy"}


def _contract(name_start: str) -> dict:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (found,) = [c for c in doc["tool"]["importlinter"]["contracts"] if c["name"].startswith(name_start)]
    return found


def _children(package: str) -> set[str]:
    """The modules and packages directly inside `package` (a dotted name under ROOT)."""
    folder = ROOT.joinpath(*package.split("."))
    names = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
    return {f"{package}.{n}" for n in names}


def siblings_along(module: str) -> set[str]:
    """Every module beside the path from the root package down to `module`: importing any of them is
    importing something of camseg outside `module`."""
    parts = module.split(".")
    path = {".".join(parts[: i + 1]) for i in range(len(parts))}
    return {m for i in range(1, len(parts)) for m in _children(".".join(parts[:i]))} - path


def outside_packages() -> set[str]:
    """Top-level names of every non-standard-library package camseg_cli imports anywhere."""
    tops: set[str] = set()
    for f in (ROOT / "camseg_cli").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                tops |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops.add(node.module.split(".")[0])
    return {t for t in tops if t not in sys.stdlib_module_names and t != "camseg_cli"}


def test_siblings_along_a_path_are_every_module_beside_it():
    found = siblings_along(STATS)
    assert {"camseg_cli.cli", "camseg_cli.core.errors", "camseg_cli.core.evaluation.scoring"} <= found
    assert not {"camseg_cli.core", "camseg_cli.core.evaluation", STATS} & found  # the path itself


def test_the_statistics_contract_forbids_all_of_camseg_but_errors_and_all_packages_but_numpy_scipy():
    forbidden = set(_contract("the study's statistics")["forbidden_modules"])
    expected = siblings_along(STATS) | outside_packages()
    assert {"torch", "pandas", "cv2"} <= expected  # the derivation sees what camseg imports
    missing = expected - STATS_MAY_IMPORT - forbidden
    assert missing == set(), f"add to the contract's forbidden_modules in pyproject.toml: {sorted(missing)}"
    assert not forbidden & STATS_MAY_IMPORT
    assert forbidden <= expected, f"names no longer in camseg: {sorted(forbidden - expected)}"


def test_every_contract_name_leaves_room_for_its_status_on_one_line():
    """lint-imports prints `NAME KEPT` through Rich, 80 columns without a terminal (CI, a pipe): a longer
    name wraps, and its KEPT or BROKEN lands on a line of its own, away from the contract it judges."""
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    long = [c["name"] for c in doc["tool"]["importlinter"]["contracts"] if len(c["name"] + " BROKEN") > 80]
    assert long == [], f"shorten these contract names in pyproject.toml: {long}"
