"""The command line as a whole: help and argument errors answer before torch and friends load.

`camseg --help` used to import torch, torchvision, albumentations and pandas through the command
modules (about 7 s on the 2-core development box, before a single option was read); the commands now
load them when they run. The probe runs in a fresh interpreter, since this test process has long
imported all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from camseg_cli.cli import app
from camseg_cli.core.choices import ARCHS, AUG_PRESETS, EXPORT_FORMATS, OPTIMIZERS, PREDICT_OUTPUTS, SCHEDULES

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "albumentations", "cv2", "pandas", "matplotlib")

# Runs the real entry point once per argument list, in one interpreter, and records after each run
# its exit code, its output and which heavy modules had been imported by then.
_PROBE = """
import contextlib, io, json, sys
from camseg_cli.cli import main
heavy, report = json.loads(sys.argv[1]), []
for argv in json.loads(sys.argv[2]):
    sys.argv = ["camseg", *argv]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code or 0
    report.append({"argv": argv, "code": code, "output": out.getvalue(),
                   "heavy": [m for m in heavy if m in sys.modules]})
print(json.dumps(report))
"""


def _probe(argvs: list[list[str]]) -> list[dict]:
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(HEAVY), json.dumps(argvs)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


COMMANDS = sorted(c.name for c in app.registered_commands)


@pytest.fixture(scope="module")
def helps() -> dict[str, dict]:
    runs = _probe([["--help"], *([name, "--help"] for name in COMMANDS)])
    return {" ".join(r["argv"]): r for r in runs}


def test_every_command_is_probed():
    assert set(COMMANDS) >= {"train", "evaluate", "predict", "compare", "stats", "synth", "export"}


@pytest.mark.parametrize("argv", ["--help", *(f"{name} --help" for name in COMMANDS)])
def test_help_answers_without_loading_the_heavy_libraries(helps, argv):
    run = helps[argv]
    assert run["code"] == 0, run["output"]
    assert "Usage" in run["output"]
    assert run["heavy"] == [], f"`camseg {argv}` imported {run['heavy']}"


def test_help_lists_each_commands_choices(helps):
    def words(argv: str) -> str:
        return " ".join(helps[argv]["output"].split())  # Rich wraps long help lines

    train = words("train --help")
    for name in (*ARCHS, *AUG_PRESETS, *OPTIMIZERS, *SCHEDULES):
        assert name in train
    assert ",".join(PREDICT_OUTPUTS) in words("predict --help")  # the --save default
    assert " or ".join(EXPORT_FORMATS) in words("export --help")
    root = words("--help")
    assert all(name in root for name in COMMANDS)


def test_a_mistyped_option_is_refused_before_the_heavy_libraries_load(tmp_path):
    (run,) = _probe([["train", "--data", str(tmp_path), "--epochs", "many"]])
    assert run["code"] == 2
    assert "--epochs" in run["output"]
    assert run["heavy"] == []


def test_a_command_that_runs_loads_what_it_needs(tmp_path):
    """The lazy imports are not skipped imports: a command that runs still loads torch, then fails cleanly."""
    bad = tmp_path / "bad.pt"  # passes the cheap checks (it exists), so torch must load to read it
    bad.write_bytes(b"not a checkpoint")
    (run,) = _probe([["predict", str(bad), str(tmp_path), "--quiet"]])
    assert run["code"] == 1
    assert "bad.pt" in run["output"]
    assert "torch" in run["heavy"]
