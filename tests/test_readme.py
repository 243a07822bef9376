"""The README's CPU/offline study runs as written (issue 15): its commands are read from the README
itself and run tiny, so the text and the tool cannot drift apart."""

from __future__ import annotations

import glob
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from camseg_cli.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
# the same commands, made small: fewer and smaller images, the smallest training size, one epoch
SHRINK = {"--images": "8", "--epochs": "1", "--size": None}
SIZES = {"synth": "64x96", "train": "32x48"}


def cpu_study() -> list[list[str]]:
    """The commands of the README's first fenced block after 'On a laptop'."""
    text = README.read_text(encoding="utf-8")
    after = text[text.index("On a laptop") :]
    block = re.search(r"```bash\n(.*?)```", after, re.S).group(1)
    return [shlex.split(line) for line in block.splitlines() if line.startswith("camseg ")]


def shrunk(args: list[str]) -> list[str]:
    out = list(args[1:])
    for i, a in enumerate(out[:-1]):
        if a in SHRINK:
            out[i + 1] = SHRINK[a] or SIZES.get(out[0], out[i + 1])
    if out[0] == "train":
        out += ["--batch-size", "2", "--workers", "0"]
    expanded = []
    for a in out:
        expanded += sorted(glob.glob(a)) if glob.has_magic(a) else [a]
    return expanded


@pytest.mark.slow
def test_the_readmes_cpu_study_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the README writes under ./out
    commands = cpu_study()
    assert [c[1] for c in commands] == ["synth", "stats", "train", "evaluate", "compare", "predict"]
    runner = CliRunner()
    for command in commands:
        result = runner.invoke(app, shrunk(command))
        assert result.exit_code == 0, (command, result.output)
    assert sorted(p.name for p in Path("out").glob("*.pt")) == sorted(
        f"mobilenet_v3_large-{a}-s{s}.pt" for a in ("none", "flip") for s in (0, 1, 2)
    )
    assert (Path("out") / "compare" / "arms.csv").is_file()
    assert list((Path("out") / "predictions").rglob("*_overlay.png"))


CAMVID_DEV = README.parent.parent / "shared" / "camvid-dev"


def real_result() -> list[list[str]]:
    """The commands of the README's block after 'One real result'."""
    text = README.read_text(encoding="utf-8")
    after = text[text.index("## One real result") :]
    block = re.search(r"```bash\n(.*?)```", after, re.S).group(1)
    return [shlex.split(line) for line in block.splitlines() if line.startswith("camseg ")]


@pytest.mark.slow
@pytest.mark.skipif(not CAMVID_DEV.is_dir(), reason="the 88 real frames live in ../shared/camvid-dev")
def test_the_readmes_real_result_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(README.parent)  # its --data is relative to the repository
    runner = CliRunner()
    for command in real_result():
        command = [a.replace("/tmp/camvid-study", str(tmp_path)) for a in command]
        args = shrunk(command)  # expands the checkpoints' glob once train has written them
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (command, result.output)
    assert (tmp_path / "compare" / "arms.csv").is_file()
