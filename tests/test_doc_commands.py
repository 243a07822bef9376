"""Every command line in the README's and docs' shell blocks is run by this test, checked against the
command's --help (a synopsis with [optional] flags), or named in NOT_RUN with the reason it cannot run
here. A new line that is none of these fails, and so does a NOT_RUN entry that no line matches any more.

Runnable lines run in-process, in document order per file (later lines read what earlier ones wrote),
in a temporary working directory, made small by the rewrites in `shrunk`. The fast tier runs the lines
that need no training (synth, stats, previews); the slow tier runs every runnable line, trainings too."""

from __future__ import annotations

import glob
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.choices import CACHE_MODES, EXPORT_FORMATS, PREDICT_OUTPUTS, SLICES
from camseg_cli.core.data.sources.layouts import READ_LAYOUTS

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(?:bash|sh|console|shell)[^\n]*\n(.*?)^```", re.S | re.M)
CAMVID_DEV = next(
    (p for p in (ROOT.parent / "shared" / "camvid-dev", Path("/work/shared/camvid-dev")) if p.is_dir()), None
)

# (file, or "" for any; pattern re.search'ed on the line, comments dropped) -> why this test does not run it
NOT_RUN = {
    ("datasets.md", r"^camseg (evaluate|compare) out/\S+\.pt( --split val)?$"): (
        "scores the checkpoints of the real-dataset training in its block"
    ),
    r"^make (demo|test|test-all|test-min|lint|bench|clean)$": "make set-up/CI targets: CI runs them itself",
    r"^make train-all ": "the make wrapper of the study on data/camvid-fastai, a dataset a clone lacks",
    r"^make tensorboard$": "starts a long-running TensorBoard server",
    r"^bash scripts/gpu_check\.sh$": "needs CUDA (the GPU checks)",
    r"^pip install ": "set-up line: CI installs the extras itself",
    r"^torchrun ": "torchrun/multi-GPU (DistributedDataParallel)",
    r"^camseg download ": "internet download",
    r"--data data/(camvid-fastai|cityscapes|acdc|kitti|bdd100k)\b": "a real dataset folder a clone lacks",
    r"^camseg train --config examples/study\.toml": "its data is data/camvid-fastai, a dataset a clone lacks",
}
# lines that assume a dataset the file never makes: made first, as the docs' `make demo` would
SETUP = {"training.md": ["camseg synth out/demo-data --images 8 --size 64x96"]}
SYNOPSIS = re.compile(r"\[|\||\.\.\.|\b(CKPT|DIR|FILE|ARM|RUN|NAMES|FAMILY)\b|photos/")
SHRINK = {"--images": "8", "--epochs": "1", "--workers": "0", "--batch-size": "2", "--device": "cpu"}
SIZES = {"synth": "64x96", "train": "32x48"}
# train lines without these get them
TRAIN_ADDS = {"--epochs": "1", "--size": "32x48", "--weights": "none", "--device": "cpu"}
# a synopsis that lists an option's values (`--cache none|ram|disk`, `--save index,color,overlay`) lists all
CHOICES = {
    "--layout": READ_LAYOUTS,
    "--cache": CACHE_MODES,
    "--format": EXPORT_FORMATS,
    "--save": PREDICT_OUTPUTS,
    "--slice": SLICES,
    "--split": ("test", "val", "train"),
}
runner = CliRunner()


def doc_lines(path: Path) -> list[str]:
    """Each command of the file's shell blocks, continuation lines joined, comments and prompts dropped."""
    lines = []
    for block in FENCE.findall(path.read_text(encoding="utf-8")):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            words = shlex.split(line, comments=True)
            if words and words[0].startswith("[") and lines:  # a synopsis wrapped onto an indented line
                lines[-1] += " " + " ".join(words)
            elif words:
                lines.append(" ".join(words))
    return lines


def listed(key, name: str, line: str) -> bool:
    file, pattern = key if isinstance(key, tuple) else ("", key)
    return file in ("", name) and re.search(pattern, line) is not None


def kind(line: str, name: str = "") -> str:
    """'not-run', 'synopsis', 'run', or 'unknown' (which fails the coverage test)."""
    if any(listed(key, name, line) for key in NOT_RUN):
        return "not-run"
    if line.startswith("camseg ") and SYNOPSIS.search(line):
        return "synopsis"
    if line.startswith("camseg "):
        return "run"
    return "unknown"


def test_every_command_line_is_run_checked_or_listed():
    unknown = [(p.name, line) for p in DOCS for line in doc_lines(p) if kind(line, p.name) == "unknown"]
    assert not unknown, f"neither run nor in NOT_RUN: {unknown}"
    every = [(p.name, line) for p in DOCS for line in doc_lines(p)]
    stale = [k for k in NOT_RUN if not any(listed(k, name, line) for name, line in every)]
    assert not stale, f"NOT_RUN entries that match no documented line: {stale}"


def test_the_parser_reads_continuations_comments_and_every_fence(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text(
        "```bash\ncamseg a --x 1 \\\n    --y 2   # note\n\n# only a comment\n```\n"
        "```console\n$ camseg b\n```\n```python\ncamseg not-shell\n```\n```sh\nmake lint\n```\n"
    )
    assert doc_lines(doc) == ["camseg a --x 1 --y 2", "camseg b", "make lint"]
    assert [kind(x) for x in ("make lint", "camseg b [--z]", "camseg b", "ls")] == [
        "not-run",
        "synopsis",
        "run",
        "unknown",
    ]


SYNOPSES = [(p.name, line) for p in DOCS for line in doc_lines(p) if kind(line, p.name) == "synopsis"]


@pytest.mark.parametrize("name,line", SYNOPSES, ids=[f"{n}:{i}" for i, (n, _) in enumerate(SYNOPSES)])
def test_a_synopsis_names_a_command_and_only_its_options(name, line):
    command = line.split()[1]
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, (name, line, result.output)
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", line))
    missing = sorted(f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", result.output))
    assert not missing, f"{name}: `{line}` names options `camseg {command}` lacks: {missing}"
    for flag, values in re.findall(r"(--[a-z-]+) \[?([a-z0-9_]+(?:[|,][a-z0-9_]+)+)", line):
        if flag in CHOICES:
            assert set(re.split("[|,]", values)) == set(CHOICES[flag]), (name, flag, values, CHOICES[flag])


def shrunk(line: str, tmp: Path) -> list[str]:
    """The line's arguments made small: 8 images, the smallest sizes, one epoch, two seeds, CPU, no
    pretrained weights; the real-frames study reads the absolute camvid-dev folder and writes in tmp."""
    line = line.replace("/tmp/camvid-study", str(tmp / "camvid-study"))
    if CAMVID_DEV is not None:
        line = line.replace("../shared/camvid-dev", str(CAMVID_DEV))
    out = shlex.split(line)[1:]
    command = out[0]
    for i, a in enumerate(out[:-1]):
        if a in SHRINK:
            out[i + 1] = SHRINK[a]
        elif a == "--size":
            out[i + 1] = SIZES.get(command, out[i + 1])
        elif a == "--seeds":  # two seeds keep the -s<seed> names the later lines read
            out[i + 1] = ",".join(out[i + 1].split(",")[:2])
        elif a == "--aug" and command == "train" and out[i + 1].count(",") > 1:
            out[i + 1] = ",".join(out[i + 1].split(",")[:: out[i + 1].count(",")])  # first and last arm
        elif a == "--weights":
            out[i + 1] = "none"
    if command == "train":
        for flag, value in TRAIN_ADDS.items():
            if flag not in out:
                out += [flag, value]
        out += ["--batch-size", "2", "--workers", "0"]
    expanded = []
    for a in out:
        if "<run>" in a:  # a placeholder for one run folder: the first the earlier lines wrote
            expanded += sorted(glob.glob(a.replace("<run>", "*")))[:1]
        else:
            expanded += sorted(glob.glob(a)) if glob.has_magic(a) else [a]
    return expanded


def needs_training(line: str) -> bool:
    return line.startswith("camseg train ") or ".pt" in line


RUNNABLE = [p for p in DOCS if any(kind(line, p.name) == "run" for line in doc_lines(p))]


def run_file(path: Path, tmp: Path, fast: bool) -> int:
    lines = SETUP.get(path.name, []) + [line for line in doc_lines(path) if kind(line, path.name) == "run"]
    ran = 0
    for line in lines:
        if fast and needs_training(line):
            continue
        if "camvid-dev" in line and CAMVID_DEV is None:
            continue  # the 88 real frames are not beside this checkout
        args = shrunk(line, tmp)
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"{path.name}: `{line}` (run as {args}) failed:\n{result.output}"
        ran += 1
    return ran


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: p.name)
def test_the_docs_commands_that_need_no_training_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_file(path, tmp_path, fast=True) > 0


@pytest.mark.slow
@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: p.name)
def test_the_docs_commands_run_trainings_included(path, tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)
    assert run_file(path, tmp_path, fast=False) > 0
