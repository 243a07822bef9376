"""Reliability and security (issue 8): bad data, bad arguments, bad checkpoints, interruptions, numerical
faults, and fuzzing of the label decoder and class-map readers.

Every failure must be one line `error: <file>: <problem>`, exit code 1, no traceback (unless --debug), and
no half-written output. Cases already tested elsewhere are not repeated here; each section names them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner, Result

from camseg_cli.cli import app
from camseg_cli.core.data.classes.labels import check_index_mask, decode_rgb_mask, encode_rgb_mask
from camseg_cli.core.data.classes.maps import (
    ClassMap,
    preset,
    read_class_dict,
    read_classmap,
    read_codes,
    write_class_dict,
    write_codes,
)
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.model.checkpoint import (
    FORMAT,
    NORMALIZATION,
    VERSION,
    build_model,
    load_checkpoint,
    make_checkpoint,
    save_checkpoint,
)
from camseg_cli.core.train.config import TrainConfig
from camseg_cli.core.train.engine import TrainEvents
from camseg_cli.core.train.optim import SegLoss
from camseg_cli.core.train.resume import resume_config
from camseg_cli.core.train.run import TrainingInterrupted, fit

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}
ARCH = "mobilenet_v3_large"
RUN = f"{ARCH}-none"
SIZE = (32, 48)  # the smallest training size; every model here is untrained or trained for an epoch or two
VOID = (0, 0, 0)  # camvid32's Void colour


def tiny(**over: str) -> list[str]:
    """`camseg train` options for a one-epoch, from-scratch run on 32x48 images."""
    opts = {
        "arch": ARCH,
        "weights": "none",
        "size": "32x48",
        "batch-size": "2",
        "epochs": "1",
        "workers": "0",
    }
    opts.update({k.replace("_", "-"): v for k, v in over.items()})
    return [*(x for k, v in opts.items() for x in (f"--{k}", v)), "--quiet"]


def invoke(*args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result: Result, *fragments: str, alone: bool = True) -> str:
    """Exit 1, and the error is one stderr line 'error: ...' holding every fragment, with no traceback.

    alone: nothing else on stderr either (train reports its start, some commands log warnings first).
    """
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.output
    assert len(lines) == 1 or not alone, result.output
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def files_under(folder: Path) -> list[Path]:
    """Every file (temp files included) under folder; [] when it does not exist."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def scenes(
    root: Path, layout: str = "rgb", images: int = 8, seed: int = 0, classes: str = "camvid32"
) -> Path:
    """8 images: 4 train, 2 val, 2 test."""
    return write_dataset(root, layout, images=images, size=SIZE, seed=seed, classes=classes)


def first(root: Path, folder: str, i: int = 0) -> Path:
    return sorted((root / folder).iterdir())[i]


def truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def paint(path: Path, colour: tuple[int, int, int], where=np.s_[:, :]) -> Path:
    rgb = np.asarray(Image.open(path).convert("RGB")).copy()
    rgb[where] = colour
    Image.fromarray(rgb).save(path)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A clean 8-image dataset that tests only read."""
    return scenes(tmp_path_factory.mktemp("good") / "data")


# ==================================================================================== bad data
# Already covered elsewhere: unknown RGB colour, size mismatch, missing mask (rgb) and class_dict.csv
# missing columns through `camseg stats` (test_stats); unknown colour / index values with pixel counts
# (test_data); malformed class files at the reader level (test_classes); unreadable predict inputs
# (test_predict).


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _copy(src: Path, dest: Path) -> Path:
    """Copy src over dest; the path to name is dest, unless dest is a new duplicate (then the .png)."""
    shutil.copyfile(src, dest)
    return dest if dest.suffix == ".png" else dest.with_suffix(".png")


def _unlink(mask: Path) -> Path:
    mask.unlink()
    return mask.parent.parent / "images" / f"{mask.stem.removesuffix('_P')}.png"  # the image without it


def _index_200(mask: Path) -> Path:
    m = np.asarray(Image.open(mask)).copy()
    m[:3, :5] = 200
    Image.fromarray(m).save(mask)
    return mask


def _shrink(mask: Path) -> Path:
    Image.open(mask).resize((24, 16), Image.NEAREST).save(mask)
    return mask


def _png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _class_dict(root: Path, edit) -> tuple[Path, str]:
    path = root / "class_dict.csv"
    lines = path.read_text().splitlines()  # name,r,g,b / Animal,64,128,64 / Archway,192,0,128 / ...
    fragment = edit(lines)
    path.write_text("\n".join(lines) + "\n")
    return path, fragment


def _same_colour(lines: list[str]) -> str:
    lines[2] = lines[2].split(",")[0] + "," + lines[1].split(",", 1)[1]
    return "duplicate colour"


def _same_name(lines: list[str]) -> str:
    lines[2] = lines[1].split(",")[0].upper() + "," + lines[2].split(",", 1)[1]
    return "duplicate class name"


def _not_a_number(lines: list[str]) -> str:
    lines[1] = "Animal, 64, lots, 64"
    return "not three integers"


def _image_of(mask: Path, root: Path, split: str = "train") -> Path:
    return root / split / f"{mask.stem.removesuffix('_L')}.png"


BAD_DATA = {
    # case: (layout, corrupt(root) -> (the file the error must name, what it must say))
    "truncated PNG image": ("rgb", lambda r: (truncate(first(r, "train")), "not a readable image")),
    "truncated PNG mask": ("rgb", lambda r: (truncate(first(r, "train_labels")), "not a readable image")),
    "zero-byte image": ("rgb", lambda r: (_write(first(r, "val"), b""), "not a readable image")),
    "text file named .png": (
        "rgb",
        lambda r: (_write(first(r, "test"), b"just some text\n"), "not a readable image"),
    ),
    "photo in the rgb mask folder": (
        "rgb",
        lambda r: (
            _copy(_image_of(first(r, "train_labels"), r), first(r, "train_labels")),
            "not in the class map",
        ),
    ),
    "photo in the index mask folder": (
        "index",
        lambda r: (_copy(first(r, "train"), first(r, "trainannot")), "expected a single-channel image"),
    ),
    "index outside the class map": (
        "index",
        lambda r: (_index_200(first(r, "valannot")), "class index 200 on 15"),
    ),
    "index mask of another size": ("index", lambda r: (_shrink(first(r, "testannot")), "they must match")),
    "missing mask (fastai)": ("fastai", lambda r: (_unlink(first(r, "labels")), "no mask")),
    "duplicate image names": (
        "rgb",
        lambda r: (_copy(first(r, "train"), first(r, "train").with_suffix(".jpg")), "duplicate name"),
    ),
    "duplicate mask names": (
        "rgb",
        lambda r: (
            _copy(first(r, "val_labels"), first(r, "val_labels").with_suffix(".bmp")),
            "duplicate name",
        ),
    ),
    "class_dict.csv duplicate colour": ("rgb", lambda r: _class_dict(r, _same_colour)),
    "class_dict.csv duplicate name": ("rgb", lambda r: _class_dict(r, _same_name)),
    "class_dict.csv non-numeric value": ("rgb", lambda r: _class_dict(r, _not_a_number)),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_is_one_line_naming_the_file_and_writes_nothing(case, tmp_path):
    layout, corrupt = BAD_DATA[case]
    root = scenes(tmp_path / "data", layout)
    bad, fragment = corrupt(root)
    out = tmp_path / "out"
    one_line_error(invoke("stats", "--data", root, "--out", out, "--quiet"), str(bad), fragment)
    assert files_under(out) == []


def test_debug_shows_the_traceback_instead(tmp_path):
    root = scenes(tmp_path / "data")
    _write(first(root, "train"), b"")
    result = runner.invoke(app, ["--debug", "stats", "--data", str(root), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and isinstance(result.exception, CamsegError)


def test_empty_split_is_one_line(tmp_path):
    root = scenes(tmp_path / "data")
    for p in (root / "val").iterdir():
        p.unlink()
    one_line_error(
        invoke("train", "--data", root, "--out", tmp_path / "out", *tiny()), "split 'val' is empty"
    )
    assert files_under(tmp_path / "out") == []


def test_spaces_and_non_utf8_bytes_in_paths(tmp_path):
    try:
        root = Path(os.fsdecode(os.fsencode(tmp_path) + b"/my data \xff/scenes"))
        scenes(root)
    except (OSError, UnicodeError):
        pytest.skip("this file system does not take non-UTF-8 file names")
    out = root.parent / "out dir"
    result = invoke("stats", "--data", root, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert (out / "stats" / "class_counts.png").stat().st_size > 1000  # the title holds the folder name
    bad = _write(first(root, "train"), b"")
    line = one_line_error(invoke("stats", "--data", root, "--out", tmp_path / "o2"), "not a readable image")
    assert bad.name in line and "my data " in line


def test_a_bad_sample_read_in_a_dataloader_worker_is_still_one_line(tmp_path):
    root = scenes(tmp_path / "data")
    bad = truncate(first(root, "train"))
    result = invoke("train", "--data", root, "--out", tmp_path / "out", *tiny(workers="2"))
    one_line_error(result, str(bad), "not a readable image", alone=False)
    assert not list((tmp_path / "out").rglob("*.pt")) and not list((tmp_path / "out").rglob(".*.tmp"))


# ------------------------------------------------------------------------------------ --skip-bad


@pytest.fixture(scope="module")
def flawed(tmp_path_factory) -> dict:
    """14 scenes (8 train, 3 val, 3 test): a bad sample in every split, and an all-void train mask."""
    root = scenes(tmp_path_factory.mktemp("flawed") / "data", images=14, seed=3)
    bad = {
        "train image": truncate(first(root, "train", 0)),
        "train mask": paint(first(root, "train_labels", 1), (1, 2, 3), np.s_[:4, :4]),
        "val image": _write(first(root, "val", 0), _png_bytes(np.zeros((20, 30, 3), np.uint8))),
        "test image": _write(first(root, "test", 0), b""),
    }
    paint(first(root, "train_labels", 2), VOID)  # not bad: every pixel void
    return {"root": root, "bad": bad}


@pytest.fixture(scope="module")
def skipped_run(flawed, tmp_path_factory) -> dict:
    """`camseg train --skip-bad` on the flawed scenes: one epoch, its output folder and its output."""
    out = tmp_path_factory.mktemp("skipped")
    result = invoke("train", "--data", flawed["root"], "--out", out, *tiny(), "--skip-bad")
    return {"out": out, "result": result, "ckpt": out / f"{RUN}.pt"}


@pytest.mark.slow
def test_train_skip_bad_lists_each_bad_sample_and_trains_on_the_rest(flawed, skipped_run):
    result = skipped_run["result"]
    assert result.exit_code == 0, result.output
    for key in ("train image", "train mask", "val image"):
        assert flawed["bad"][key].name in result.output, key
    assert "2 of 8 train samples skipped" in result.output and "1 of 3 val samples skipped" in result.output
    ckpt = load_checkpoint(skipped_run["ckpt"])
    assert ckpt["config"]["skip_bad"] is True and [r["epoch"] for r in ckpt["history"]] == [1]


def test_train_without_skip_bad_stops_at_the_first_bad_sample(flawed, tmp_path):
    result = invoke("train", "--data", flawed["root"], "--out", tmp_path, *tiny())
    line = one_line_error(result, alone=False)
    assert any(str(p) in line for p in flawed["bad"].values()), line


@pytest.fixture
def scorer(tiny_study, flawed) -> tuple[Path, list[str]]:
    """A trained checkpoint of the session's study (tests/conftest.py; camvid32 like the flawed scenes),
    and `--data` to score it on the flawed scenes: evaluating needs a checkpoint, not this module's run."""
    return tiny_study.checkpoint("none", 0), ["--data", str(flawed["root"])]


def test_evaluate_skip_bad_scores_the_good_samples(flawed, scorer, tmp_path):
    (ckpt, data), bad = scorer, flawed["bad"]["test image"]
    plain = invoke("evaluate", ckpt, *data, "--bootstrap", "0", "--out", tmp_path / "a")
    one_line_error(plain, str(bad), "not a readable image")
    assert files_under(tmp_path / "a") == []
    result = invoke(
        "evaluate", ckpt, *data, "--bootstrap", "0", "--out", tmp_path / "b", "--skip-bad", "--json"
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["images"] == 2 and bad.name in result.output and "1 of 3 test samples skipped" in result.output


def test_compare_reuses_an_evaluation_made_with_skip_bad(flawed, scorer, tiny_study, tmp_path):
    """Issue 14.8: the cache key covered every sample, so compare never reused a --skip-bad evaluation
    and re-evaluated without it, stopping on the bad sample."""
    (ckpt, data), out = scorer, tmp_path / "o"
    made = invoke("evaluate", ckpt, *data, "--bootstrap", "0", "--out", out, "--skip-bad")
    assert made.exit_code == 0, made.output
    result = invoke(
        "compare", ckpt, *data, "--out", out, "--bootstrap", "0", "--samples", "2", "--json", "--quiet"
    )
    assert result.exit_code == 0, result.output
    assert "1 evaluation(s) reused" not in result.stdout  # --json: the JSON alone
    assert json.loads(result.stdout)["runs"][0]["run"] == tiny_study.run("none", 0)
    again = invoke("compare", ckpt, *data, "--out", out, "--bootstrap", "0", "--samples", "0")
    assert again.exit_code == 0 and "1 evaluation(s) reused" in again.stdout, again.output
    # mending the bad file changes the split's fingerprint: evaluated anew, now on all 3 images
    root = Path(shutil.copytree(flawed["root"], tmp_path / "data"))
    good_png = sorted((root / "test").iterdir())[1]
    shutil.copy(good_png, root / "test" / flawed["bad"]["test image"].name)
    fresh = invoke("evaluate", ckpt, "--data", root, "--bootstrap", "0", "--out", out, "--skip-bad", "--json")
    assert fresh.exit_code == 0 and json.loads(fresh.stdout)["images"] == 3, fresh.output


def test_the_evaluation_cache_is_keyed_by_the_layout_it_read(scorer, tiny_study, tmp_path):
    from camseg_cli.core.evaluation.scoring.result_cache import cached_result

    (ckpt, data), out, run = scorer, tmp_path / "o", tiny_study.run("none", 0)
    made = invoke("evaluate", ckpt, *data, "--bootstrap", "0", "--out", out, "--skip-bad", "--layout", "rgb")
    assert made.exit_code == 0, made.output
    assert cached_result(ckpt, run, "test", out, layout="rgb") is not None
    assert cached_result(ckpt, run, "test", out) is not None  # no layout asked for: the cached one
    assert cached_result(ckpt, run, "test", out, layout="index") is None  # another layout: stale


def test_evaluate_skip_bad_with_every_sample_bad_is_one_clear_error(flawed, scorer, tmp_path):
    root = Path(shutil.copytree(flawed["root"], tmp_path / "data"))
    for p in (root / "test").iterdir():
        p.write_bytes(b"")
    result = invoke("evaluate", scorer[0], "--data", root, "--out", tmp_path / "o", "--skip-bad")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "error: every one of the 3 test samples is bad" in result.output
    assert files_under(tmp_path / "o") == []


# ==================================================================================== bad arguments
# Already covered: unknown --aug, --batch-size 1 and --size 64by96 for train, and --device cuda without a
# GPU for train and evaluate (test_train, test_evaluate); --size 0x0 for synth (test_synthetic).


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["augment-preview", "--data", "{data}", "--aug", "nope", "--out", "{tmp}/p"], "'nope'"),
        (["train", "--data", "{data}", *tiny(arch="vgg")], "--arch 'vgg'"),
        (["train", "--data", "{data}", *tiny(size="0x0")], "must be positive"),
        (["train", "--data", "{data}", *tiny(epochs="-1")], "--epochs must be a whole number from 1"),
        (["train", "--data", "{data}", *tiny(batch_size="64")], "larger than the 4 training images"),
    ],
    ids=["unknown aug preset", "unknown arch", "size 0x0", "negative epochs", "batch larger than data"],
)
def test_bad_arguments_are_one_line(args, fragment, good, tmp_path):
    args = [a.replace("{data}", str(good)).replace("{tmp}", str(tmp_path)) for a in args]
    one_line_error(
        invoke(*args, "--out", tmp_path / "out") if args[0] == "train" else invoke(*args), fragment
    )
    assert files_under(tmp_path) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when no GPU is present")
def test_predict_on_cuda_without_a_gpu_suggests_cpu(base_ckpt, good, tmp_path):
    result = invoke("predict", base_ckpt, first(good, "test"), "--device", "cuda", "--out", tmp_path / "o")
    one_line_error(result, "--device cuda", "use --device cpu")


@pytest.mark.parametrize("command", ["stats", "synth", "augment-preview", "train", "evaluate", "predict"])
def test_output_folder_that_cannot_be_written_is_one_line(command, good, base_ckpt, tmp_path):
    # under a regular file, so that it fails for root too (root ignores permission bits)
    blocker = tmp_path / "a_file.txt"
    blocker.write_text("not a folder\n")
    out = blocker / "out"
    args = {
        "stats": ["stats", "--data", good, "--out", out],
        "synth": ["synth", out / "data", "--images", "3", "--size", "32x48"],
        "augment-preview": [
            "augment-preview",
            "--data",
            good,
            "--out",
            out,
            "--aug",
            "none",
            "-n",
            "1",
        ],
        "train": ["train", "--data", good, "--out", out, *tiny()],
        "evaluate": ["evaluate", base_ckpt, "--data", good, "--out", out, "--bootstrap", "0"],
        "predict": ["predict", base_ckpt, first(good, "test"), "--out", out],
    }[command]
    line = one_line_error(invoke(*args), alone=False)  # stats warns and train starts first
    assert str(blocker) in line and ("cannot write" in line or "not a folder" in line), line
    assert blocker.read_text() == "not a folder\n"


# ==================================================================================== bad checkpoints
# Already covered: a pickle that would run code, through evaluate and predict, with a test that the same
# file does run code when unpickled unsafely (test_evaluate); truncated and foreign files through evaluate
# (test_evaluate); a dataset whose classes differ from the checkpoint's, through evaluate (test_evaluate).


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict:
    """A valid 12-class (camvid11) checkpoint as a dict, to damage one field at a time."""
    torch.manual_seed(0)
    model = build_model(ARCH, 12, "none")
    return make_checkpoint(model, arch=ARCH, classes=preset("camvid11"), image_size=SIZE, run="base")


@pytest.fixture(scope="module")
def base_ckpt(base, tmp_path_factory) -> Path:
    return save_checkpoint(tmp_path_factory.mktemp("base") / "base.pt", base)


def _with(**fields):
    return lambda path, base: save_checkpoint(path, {**base, **fields})


def _five_class_head(path: Path, base: dict) -> None:
    torch.manual_seed(0)
    other = make_checkpoint(
        build_model(ARCH, 5, "none"), arch=ARCH, classes=preset("camvid11"), image_size=SIZE
    )
    save_checkpoint(path, other)


BAD_CHECKPOINTS = {
    "plain text": (lambda p, b: p.write_text("hello\n"), "not a checkpoint"),
    "zero bytes": (lambda p, b: p.write_bytes(b""), "not a checkpoint"),
    "an image": (lambda p, b: p.write_bytes(_png_bytes(np.zeros((4, 4, 3), np.uint8))), "not a checkpoint"),
    "a folder": (lambda p, b: p.mkdir(), "is a folder"),
    "truncated": (lambda p, b: (save_checkpoint(p, b), truncate(p)), "not a readable checkpoint"),
    "another program's torch file": (
        lambda p, b: torch.save({"w": torch.zeros(2)}, p),
        "not a camseg checkpoint",
    ),
    "format version 0": (_with(version=0), "invalid format version 0"),
    "format version '1'": (_with(version="1"), "invalid format version '1'"),
    "newer format version": (
        _with(version=VERSION + 1),
        f"is newer than this camseg reads ({VERSION}) — upgrade",
    ),
    "no model record": (
        lambda p, b: save_checkpoint(p, {k: v for k, v in b.items() if k != "model"}),
        "lacks model",
    ),
    "class record that is not a class map": (_with(classes={"names": [1, 2]}), "malformed class map"),
    "class count that does not match its weights": (_five_class_head, "weights do not fit"),
    "image size that is not HxW": (_with(image_size="big"), "image_size must be [height, width]"),
}


@pytest.mark.parametrize("case", list(BAD_CHECKPOINTS))
def test_bad_checkpoints_are_one_line_through_predict(case, base, good, tmp_path):
    make, fragment = BAD_CHECKPOINTS[case]
    path = tmp_path / "model.pt"
    make(path, base)
    out = tmp_path / "out"
    one_line_error(invoke("predict", path, first(good, "test"), "--out", out), str(path), fragment)
    assert files_under(out) == []


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # unpickling would create the marker file


@pytest.mark.parametrize("command", ["compare", "export", "train --weights", "train --resume"])
def test_pickled_code_is_refused_by_every_command_and_never_runs(command, good, tmp_path):
    marker = tmp_path / "pwned"
    out = tmp_path / "out"
    evil = out / "runs" / RUN / "last.pt" if command == "train --resume" else tmp_path / "evil.pt"
    evil.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "version": VERSION, "payload": _Evil(marker)}, evil)
    args = {
        "compare": ["compare", evil, "--out", out],
        "export": ["export", evil, "--format", "torchscript", "--out", out],
        "train --weights": ["train", "--data", good, "--out", out, *tiny(weights=str(evil))],
        "train --resume": ["train", "--resume", "--out", out, "--run", RUN],
    }[command]
    one_line_error(invoke(*args), str(evil), "refused")
    assert not marker.exists()


def test_resume_onto_data_with_other_classes_is_one_line(tiny_study, tmp_path):
    other = scenes(tmp_path / "c11", classes="camvid11")
    out, run = tiny_study.copy(tmp_path).out, tiny_study.run("none", 0)  # a finished camvid32 run
    before = sha(out / "runs" / run / "last.pt")
    # --epochs 2: the saved run (1 epoch) is finished, so only an extension actually resumes it
    result = invoke("train", "--resume", "--out", out, "--run", run, "--data", other, "--epochs", "2")
    one_line_error(result, "classes differ")
    assert sha(out / "runs" / run / "last.pt") == before


# ==================================================================================== interruptions
# Already covered: SIGINT (Ctrl-C) during training saves a resumable state, exits 130 and --resume runs to
# the same final epoch (test_train, subprocess); resume mid-epoch gives the same history (test_train).


def test_failed_write_keeps_the_previous_checkpoint_and_leaves_no_temp_file(base, tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "model.pt", {**base, "epoch": 1})
    real_save = torch.save

    def dies_half_way(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        Path(f).write_bytes(Path(f).read_bytes()[:1000])  # half a file on disk, then the writer fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(OSError):
        save_checkpoint(path, {**base, "epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


_WRITER = """
import sys, torch
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.model.checkpoint import FORMAT, NORMALIZATION, VERSION, save_checkpoint
dest, n = sys.argv[1], int(sys.argv[2])
base = {"format": FORMAT, "version": VERSION, "arch": "mobilenet_v3_large", "image_size": [32, 48],
        "classes": preset("camvid11").to_dict(), "normalization": NORMALIZATION}
blob = torch.arange(n, dtype=torch.float32)
generation = 0
while True:
    generation += 1
    save_checkpoint(dest, {**base, "generation": generation, "model": {"blob": blob + generation}})
"""


def _kill_when(proc: subprocess.Popen, find_temps, timeout: float) -> list[Path]:
    """SIGKILL proc as soon as find_temps() returns a temp file with bytes in it (a write under way)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            temps = [p for p in find_temps() if p.stat().st_size > 0]
        except FileNotFoundError:  # renamed between the listing and the stat
            temps = []
        if temps:
            proc.kill()
            proc.wait()
            return temps
        time.sleep(0.001)
    proc.kill()
    proc.wait()
    return []


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, f"no {path} in time"
        time.sleep(0.01)


@pytest.mark.slow
def test_sigkill_during_a_checkpoint_write_leaves_the_previous_one_loadable(tmp_path):
    dest, n = tmp_path / "model.pt", 8_000_000  # 32 MB: each write takes long enough to be caught in it
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(dest), str(n)], cwd=ROOT, env=ONE_THREAD, stderr=subprocess.PIPE
    )
    _wait_for(dest, proc, timeout=60)
    temps = _kill_when(proc, lambda: list(tmp_path.glob(".model.pt.*.tmp")), timeout=30)
    assert proc.returncode == -signal.SIGKILL and temps, "the writer was not caught mid-write"
    ckpt = load_checkpoint(dest)
    assert ckpt["generation"] >= 1
    assert torch.equal(ckpt["model"]["blob"], torch.arange(n, dtype=torch.float32) + ckpt["generation"])


@pytest.mark.slow
def test_sigkill_while_training_writes_a_checkpoint_then_resume_finishes(good, tmp_path):
    out = tmp_path / "out"
    run_dir = out / "runs" / RUN
    args = ["train", "--data", str(good), "--out", str(out), *tiny(epochs="3")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "camseg_cli", *args], cwd=ROOT, env=ONE_THREAD, stderr=subprocess.PIPE
    )
    _wait_for(run_dir / "last.pt", proc, timeout=240)
    checkpoints = lambda: [*run_dir.glob(".last.pt.*.tmp"), *out.glob(f".{RUN}.pt.*.tmp")]  # noqa: E731
    temps = _kill_when(proc, checkpoints, timeout=120)
    assert proc.returncode == -signal.SIGKILL and temps, "training was not caught writing a checkpoint"
    epoch = load_checkpoint(run_dir / "last.pt")["epoch"]
    assert epoch in (1, 2)
    result = invoke("train", "--resume", "--out", out, "--run", RUN, "--quiet")
    assert result.exit_code == 0, result.output
    assert pd.read_csv(run_dir / "metrics.csv").epoch.tolist() == [1, 2, 3]
    assert [r["epoch"] for r in load_checkpoint(out / f"{RUN}.pt")["history"]] == [1, 2, 3]
    assert not list(out.rglob(".*.tmp")), "the killed run's temp files were not cleaned up"


class SigintAt(TrainEvents):
    """Sends this process a real SIGINT when a given optimizer step is reported."""

    def __init__(self, epoch: int, batch: int):
        self.at = (epoch, batch)

    def step(self, epoch, batch, batches, loss, images_per_s, lr):
        if (epoch, batch) == self.at:
            signal.raise_signal(signal.SIGINT)


@pytest.fixture
def keep_determinism_setting():
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.use_deterministic_algorithms(before, warn_only=warn_only)


@pytest.mark.slow
@pytest.mark.parametrize("start", ["none", "file"])
def test_deterministic_resume_after_sigint_ends_with_identical_weights(
    start, tmp_path, keep_determinism_setting
):
    """From scratch, and from a weights file (issue 14.7: a resumed run was rebuilt as from scratch,
    which set MobileNetV3's BatchNorm momentum to 0.1 instead of the pretrained run's 0.01).

    8 training images in batches of 2: the SIGINT after epoch 2's first step leaves steps to train
    after the resume (with 2 steps an epoch, the delayed loss read-back lets the epoch finish first).
    """
    good = scenes(tmp_path / "data", images=16)
    weights = "none"
    if start == "file":
        torch.manual_seed(1)
        weights = str(tmp_path / "start.pt")
        torch.save(build_model(ARCH, preset("camvid32").num_classes, "none").state_dict(), weights)
    settings_ = dict(arch=ARCH, weights=weights, epochs=2, batch_size=2, size=SIZE, lr=1e-3, workers=0)
    common = dict(data=str(good), deterministic=True, **settings_)
    whole = fit(TrainConfig(out=str(tmp_path / "whole"), **common))
    cut = TrainConfig(out=str(tmp_path / "cut"), **common)
    with pytest.raises(TrainingInterrupted):
        fit(cut, SigintAt(epoch=1, batch=1))  # in epoch 2 of 2: resume restores a mid-epoch state
    assert load_checkpoint(cut.last_path)["epoch"] == 1
    resumed = fit(resume_config(cut.out, RUN), resume=True)
    assert resumed.epochs == whole.epochs == 2
    a = torch.load(tmp_path / "whole" / "runs" / RUN / "last.pt", weights_only=True)["model"]
    b = torch.load(cut.last_path, weights_only=True)["model"]
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"
    assert [r["val_miou"] for r in resumed.history] == [r["val_miou"] for r in whole.history]


# ==================================================================================== numerical faults
# Already covered: a NaN loss in epoch 2 stops the run and keeps epoch 1's last.pt (test_train, by a
# poisoned loss); an all-void batch gives loss 0 (test_train); all pixels ignored gives NaN scores, not 0
# (test_metrics).


def test_absurd_learning_rate_stops_with_a_message_and_saves_no_nan_weights(good, tmp_path):
    out = tmp_path / "out"
    result = invoke("train", "--data", good, "--out", out, *tiny(lr="1e30"))
    one_line_error(
        result, "training stopped: loss is nan", "saved nothing", "lower --lr (now 1e+30)", alone=False
    )
    assert not list(out.rglob("*.pt")) and not list(out.rglob(".*.tmp"))


@pytest.mark.slow
def test_a_diverging_rerun_keeps_the_earlier_good_checkpoints(skipped_run, good, tmp_path):
    out = Path(shutil.copytree(skipped_run["out"], tmp_path / "out"))
    best, last = out / f"{RUN}.pt", out / "runs" / RUN / "last.pt"
    before = (sha(best), sha(last))
    refused = invoke("train", "--data", good, "--out", out, *tiny(lr="1e30"))  # same name, other settings
    one_line_error(refused, "made with other settings", "lr 0.001 -> 1e+30", "--force")
    result = invoke("train", "--data", good, "--out", out, *tiny(lr="1e30"), "--force")  # afresh
    assert result.exit_code == 1 and "loss is nan" in result.output and "Traceback" not in result.output
    assert (sha(best), sha(last)) == before
    weights = load_checkpoint(last)["model"]
    assert all(torch.isfinite(v.float()).all() for v in weights.values())


@pytest.mark.slow
def test_all_void_masks_train_and_evaluate_without_crashing(good, skipped_run, tmp_path):
    root = Path(shutil.copytree(good, tmp_path / "void"))
    for folder in ("train_labels", "val_labels", "test_labels"):
        for mask in (root / folder).iterdir():
            paint(mask, VOID)
    out = tmp_path / "out"
    result = invoke("train", "--data", root, "--out", out, *tiny())
    assert result.exit_code == 0, result.output
    history = pd.read_csv(out / "runs" / RUN / "metrics.csv")
    assert history.train_loss.tolist() == [0.0]  # a batch with no labelled pixel adds nothing
    assert history.val_loss.isna().all() and history.val_miou.isna().all()  # nothing to score: NaN, not 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. matplotlib's about an empty heatmap
        result = invoke(
            "evaluate", skipped_run["ckpt"], "--data", root, "--out", out, "--json", "--bootstrap", "50"
        )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["miou"] is None and doc["void"]["pixels"] == 2 * SIZE[0] * SIZE[1]
    assert len(list((out / "eval").glob("*-confusion.png"))) == 1


def test_all_void_target_gives_zero_loss_and_zero_finite_gradients():
    logits = torch.randn(2, 5, 6, 7, requires_grad=True)
    loss = SegLoss(4)({"out": logits, "aux": logits * 2}, torch.full((2, 6, 7), 4))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.equal(logits.grad, torch.zeros_like(logits))


# ==================================================================================== fuzzing
# Downloads and archives (bad checksums, path-traversal archives, dead or silent servers, resumed
# downloads) are covered by test_download with its local HTTP server fixture (tests/server.py).

u8 = st.integers(0, 255)
NAME = (
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp")), min_size=1, max_size=10)
    .map(str.strip)
    .filter(bool)
)


@st.composite
def class_maps(draw, max_classes: int = 24) -> ClassMap:
    colours = draw(st.lists(st.tuples(u8, u8, u8), min_size=1, max_size=max_classes, unique=True))
    names = draw(st.lists(NAME, min_size=len(colours), max_size=len(colours), unique_by=str.lower))
    return ClassMap.from_pairs(list(zip(names, colours)))


FUZZ = settings(max_examples=60, deadline=None)


@FUZZ
@given(classes=class_maps(), h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def test_decode_of_encode_is_the_identity(classes, h, w, seed):
    mask = np.random.default_rng(seed).integers(0, classes.num_classes, size=(h, w))
    np.testing.assert_array_equal(decode_rgb_mask(encode_rgb_mask(mask, classes), classes), mask)
    np.testing.assert_array_equal(check_index_mask(mask.astype(np.uint8), classes), mask)


@FUZZ
@given(classes=class_maps(max_classes=6), h=st.integers(1, 6), w=st.integers(1, 6), data=st.data())
def test_decoding_any_rgb_mask_is_exact_or_a_camseg_error(classes, h, w, data):
    palette = st.sampled_from(classes.colors)
    pixel = st.one_of(palette, palette, st.tuples(u8, u8, u8))  # mostly known colours
    rgb = np.array(data.draw(st.lists(pixel, min_size=h * w, max_size=h * w)), np.uint8).reshape(h, w, 3)
    lookup = {c: i for i, c in enumerate(classes.colors)}  # an independent per-pixel oracle
    unknown = [
        tuple(int(v) for v in px) for px in rgb.reshape(-1, 3) if tuple(int(v) for v in px) not in lookup
    ]
    if unknown:
        with pytest.raises(CamsegError, match="not in the class map"):
            decode_rgb_mask(rgb, classes, "m.png")
    else:
        expected = [[lookup[tuple(int(v) for v in px)] for px in row] for row in rgb]
        np.testing.assert_array_equal(decode_rgb_mask(rgb, classes), expected)


@FUZZ
@given(
    n=st.integers(1, 12),
    values=st.lists(st.integers(-(2**31), 2**31 - 1) | st.integers(-3, 14), min_size=1, max_size=30),
    dtype=st.sampled_from([np.uint8, np.int32, np.int64, np.uint16]),
)
def test_index_masks_are_exact_or_a_camseg_error(n, values, dtype):
    classes = ClassMap(tuple(f"c{i}" for i in range(n)), tuple((i, i, i) for i in range(n)))
    info = np.iinfo(dtype)
    values = [v for v in values if info.min <= v <= info.max] or [0]
    mask = np.array(values, dtype=dtype).reshape(1, -1)
    if all(0 <= v < n for v in values):
        np.testing.assert_array_equal(check_index_mask(mask, classes), mask.astype(np.int64))
    else:
        with pytest.raises(CamsegError, match="outside the"):
            check_index_mask(mask, classes)
    with pytest.raises(CamsegError):
        check_index_mask(mask.astype(np.float32), classes)  # not integers at all


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-300, 300) | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10,
)
NEAR_VALID = st.fixed_dictionaries(
    {
        "names": st.lists(st.text(max_size=4) | st.integers(), max_size=5),
        "colors": st.lists(st.lists(st.integers(-2, 258) | st.floats(), max_size=4), max_size=5),
        "void": st.none() | st.integers(-2, 6) | st.booleans() | st.floats(0, 5) | st.text(max_size=2),
    }
)


@FUZZ
@given(
    record=NEAR_VALID
    | JUNK
    | st.fixed_dictionaries({}, optional={"names": JUNK, "colors": JUNK, "void": JUNK})
)
def test_class_map_records_are_valid_or_a_camseg_error(record):
    try:
        classes = ClassMap.from_dict(record)
    except CamsegError:
        return
    assert ClassMap.from_dict(classes.to_dict()) == classes
    assert classes.void is None or 0 <= classes.void < classes.num_classes


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(classes=class_maps())
def test_class_files_read_back_what_was_written(fuzz_dir, classes):
    write_class_dict(classes, fuzz_dir / "class_dict.csv")
    assert read_class_dict(fuzz_dir / "class_dict.csv") == classes
    write_codes(classes, fuzz_dir / "codes.txt")
    assert read_codes(fuzz_dir / "codes.txt").names == classes.names


TOKEN = st.sampled_from(
    ["0", "64", "255", "256", "-1", "1.5", "x", "", " ", "Sky", "sky", "Void", '"a,b"', "name", "\t"]
)
CSV_TEXT = st.lists(st.lists(TOKEN, max_size=5).map(",".join), max_size=6).map(
    lambda rows: "\n".join(["name,r,g,b", *rows])
)
SPACED_TEXT = st.lists(st.lists(TOKEN, max_size=5).map(" ".join), max_size=6).map("\n".join)


@FUZZ
@given(
    kind=st.sampled_from(["class_dict.csv", "codes.txt", "label_colors.txt"]),
    raw=st.binary(max_size=200) | (CSV_TEXT | SPACED_TEXT | st.text(max_size=200)).map(str.encode),
)
def test_class_files_read_or_raise_a_camseg_error_naming_the_file(fuzz_dir, kind, raw):
    path = fuzz_dir / kind
    path.write_bytes(raw)
    try:
        classes = read_classmap(path)
    except CamsegError as e:
        assert str(path) in str(e)
        return
    assert classes.num_classes >= 1


@pytest.fixture(scope="module")
def small_ckpt_bytes(fuzz_dir) -> bytes:
    record = {
        "format": FORMAT,
        "version": VERSION,
        "model": {"w": torch.arange(6.0)},
        "arch": ARCH,
        "classes": preset("camvid11").to_dict(),
        "image_size": [32, 48],
        "normalization": NORMALIZATION,
    }
    return save_checkpoint(fuzz_dir / "small.pt", record).read_bytes()


@FUZZ
@given(data=st.data())
def test_damaged_checkpoints_load_or_raise_a_camseg_error(fuzz_dir, small_ckpt_bytes, data):
    raw = bytearray(small_ckpt_bytes)
    choice = data.draw(st.sampled_from(["truncate", "flip", "random"]))
    if choice == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif choice == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    else:
        raw = bytearray(data.draw(st.binary(max_size=300)))
    path = fuzz_dir / "damaged.pt"
    path.write_bytes(bytes(raw))
    try:
        ckpt = load_checkpoint(path)
    except CamsegError as e:
        assert str(path) in str(e)
        return
    assert (
        ckpt["format"] == FORMAT
    )  # a flipped byte inside tensor data can still load: it is checked, not trusted
