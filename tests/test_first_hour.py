"""The first hour of a new user (issue 15): defaults that learn, quiet output, clear resumes."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.model.checkpoint import build_model
from camseg_cli.core.model.device import usable_cpus

runner = CliRunner()
ARCH = "mobilenet_v3_large"
TINY = ["--arch", ARCH, "--size", "32x48", "--batch-size", "2", "--epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("fh") / "data", "rgb", images=8, size=(32, 48), seed=0)


def _config(out: Path, run: str = f"{ARCH}-none") -> dict:
    return json.loads((out / "runs" / run / "config.json").read_text())


def train(data: Path, out: Path, *extra: str):
    return runner.invoke(app, ["train", "--data", str(data), "--out", str(out), *TINY, *extra])


@pytest.mark.slow
def test_the_learning_rate_defaults_to_what_the_starting_weights_need(data, tmp_path):
    scratch = train(data, tmp_path / "a", "--weights", "none", "--workers", "0")
    assert scratch.exit_code == 0, scratch.output
    assert _config(tmp_path / "a")["lr"] == 1e-3
    weights = tmp_path / "w.pt"
    torch.save(build_model(ARCH, 32, "none").state_dict(), weights)
    tuned = train(data, tmp_path / "b", "--weights", str(weights), "--workers", "0")
    assert tuned.exit_code == 0, tuned.output
    assert _config(tmp_path / "b")["lr"] == 1e-4
    given = train(data, tmp_path / "c", "--weights", "none", "--lr", "0.02", "--workers", "0")
    assert given.exit_code == 0 and _config(tmp_path / "c")["lr"] == 0.02


@pytest.mark.slow
def test_workers_default_to_the_machine_and_too_many_never_print_torchs_warning(data, tmp_path):
    plain = train(data, tmp_path / "a", "--weights", "none")
    assert plain.exit_code == 0, plain.output
    assert _config(tmp_path / "a")["workers"] == min(4, usable_cpus())
    with warnings.catch_warnings(record=True) as caught:  # pytest would otherwise catch them first
        warnings.simplefilter("always")
        result = train(data, tmp_path / "b", "--weights", "none", "--workers", str(usable_cpus() + 1))
    assert result.exit_code == 0, result.output
    assert not [w for w in caught if "suggested max number of worker" in str(w.message)]
    assert "suggested max number of worker" not in result.output


@pytest.mark.slow
def test_resume_of_a_finished_run_says_so_and_more_epochs_extend_it(data, tmp_path):
    out = tmp_path / "out"
    base = ("--weights", "none", "--workers", "0")
    assert train(data, out, *base).exit_code == 0
    again = train(data, out, *base, "--resume")
    assert again.exit_code == 0 and "already finished (1 epochs), skipped" in again.stderr, again.output
    longer = train(data, out, *base, "--resume", "--epochs", "3")
    assert longer.exit_code == 0, longer.output
    rows = (out / "runs" / f"{ARCH}-none" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3 and _config(out)["epochs"] == 3
    lrs = [float(r.split(",")[5]) for r in rows[1:]]
    # rebuilt for 3 epochs: still positive after epoch 2 (the 1-epoch schedule had reached 0), 0 at the end
    assert lrs[1] > 0 and lrs[2] == 0
    shorter = train(data, out, *base, "--resume", "--epochs", "2")
    assert shorter.exit_code == 1 and "can be extended, not shortened" in shorter.stderr, shorter.output


def test_retraining_a_run_says_it_replaces_the_best_checkpoint(data, tmp_path):
    out = tmp_path / "out"
    assert train(data, out, "--weights", "none", "--workers", "0").exit_code == 0
    again = train(data, out, "--weights", "none", "--workers", "0")
    assert again.exit_code == 0, again.output
    assert f"replaces {out / (ARCH + '-none.pt')} (best val mIoU" in again.stderr
    assert "made with the same settings" in again.stderr


def test_stats_warns_once_and_shows_void_apart_below_the_scored_classes(data, tmp_path):
    result = runner.invoke(app, ["stats", "--data", str(data), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert result.output.count("have no train pixels") == 1 and "no training pixels" not in result.output
    rows = [ln for ln in result.stdout.splitlines() if ln.startswith("│")]
    first_table = rows[: next(i for i, r in enumerate(rows) if "Void" in r) + 1]
    assert "Void (void, not scored)" in first_table[-1]  # the last row of the class table, apart


def test_help_reads_as_users_expect():
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0 and "<bool>" not in top.stdout and "--version" in top.stdout
    version = runner.invoke(app, ["--version"])
    from camseg_cli import __version__

    assert version.exit_code == 0 and version.stdout.strip() == f"camseg {__version__}"
    for command in ("train", "evaluate", "compare", "predict", "stats", "export", "augment-preview"):
        text = runner.invoke(app, [command, "--help"]).stdout
        assert "<bool>" not in text, command
        short_o = [ln for ln in text.splitlines() if " -o " in ln]
        assert all("--out " in ln for ln in short_o), (command, short_o)  # -o is --out everywhere
    for command in ("evaluate", "compare"):
        assert "original" in runner.invoke(app, [command, "--help"]).stdout  # --layout lists every layout
