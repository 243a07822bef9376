"""Hostile and malformed inputs, round two (issue 21): config files, numeric options, checkpoint fields,
the same checkpoint twice, folder entries that cannot be read, and a damaged disk cache.

The rule (as in test_robustness): one line `error: <file>: <problem>`, exit 1, no traceback, nothing
already written lost; the cases of test_robustness are not repeated here.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.data.loading import cache as cache_mod
from camseg_cli.core.data.loading.cache import sample_dataset
from camseg_cli.core.data.sources.layouts import SegDataset, open_dataset
from camseg_cli.core.evaluation.scoring.evaluate import evaluate_checkpoint
from camseg_cli.core.model.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import random_samples, write_layout
from tests.test_evaluate import tiny_checkpoint
from tests.test_robustness import RUN, files_under, invoke, one_line_error, scenes, tiny

ROOT = Path(__file__).resolve().parents[1]
CAMVID11 = preset("camvid11")
SIZE = (64, 96)  # test_evaluate's tiny_checkpoint size


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A clean 8-image synthetic dataset (camvid32) that tests only read."""
    return scenes(tmp_path_factory.mktemp("good") / "data")


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> dict:
    """A 3-image rgb test split of camvid11 and an untrained checkpoint that records it."""
    root = tmp_path_factory.mktemp("scored")
    data = write_layout(root / "d", "rgb", {"test": random_samples(CAMVID11, 3, SIZE, used=6)}, CAMVID11)
    return {"data": data, "ckpt": tiny_checkpoint(root / "tiny.pt", data, CAMVID11)}


def _run_cli(*args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    """camseg in its own process, so a hang fails the test instead of stalling the suite."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "camseg_cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def _error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr, stderr
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], stderr
    return errors[0]


# ==================================================================================== config files


def _laughs(levels: int = 9, width: int = 10) -> str:
    """A few hundred bytes of YAML that expand to width**levels values through anchors and aliases."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * width)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append(f"aug: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def test_a_yaml_bomb_is_refused_quickly_naming_the_file(good, tmp_path):
    cfg = tmp_path / "bomb.yaml"
    cfg.write_text(_laughs())
    assert cfg.stat().st_size < 1000
    start = time.perf_counter()
    done = _run_cli("train", "--config", cfg, "--data", good, "--out", tmp_path / "o", timeout=90)
    line = _error_line(done.stderr)
    assert done.returncode == 1
    assert time.perf_counter() - start < 60
    assert str(cfg) in line and "values" in line, line
    assert len(line) < 400, line
    assert not (tmp_path / "o").exists()


BAD_CONFIGS = {
    # name: (file name, bytes, fragments the error line must hold)
    "non-UTF-8 TOML": ("c.toml", b'aug = "flip"\nrun = "caf\xe9"\n', ["not UTF-8"]),
    "JSON NaN for an integer": ("c.json", b'{"epochs": NaN}', ["epochs", "whole number"]),
    "JSON NaN for lr": ("c.json", b'{"lr": NaN}', ["lr", "nan"]),
    "JSON Infinity for weight_decay": ("c.json", b'{"weight_decay": Infinity}', ["weight_decay", "inf"]),
    "YAML .nan for warmup_epochs": ("c.yaml", b"warmup_epochs: .nan\n", ["warmup_epochs"]),
    "negative seed": ("c.json", b'{"seed": -1}', ["seed", "-1"]),
    "seed above 2^64": ("c.json", b'{"seed": 36893488147419103232}', ["seed", "4294967295"]),
    "a seed in seeds out of range": ("c.json", b'{"seeds": [0, -3]}', ["seeds", "-3"]),
    "a bool for an integer": ("c.json", b'{"epochs": true}', ["epochs", "whole number"]),
    "a float for an integer": ("c.toml", b"batch_size = 2.5\n", ["batch_size", "whole number"]),
    "an integer for a bool": ("c.json", b'{"amp": 1}', ["amp", "true or false"]),
    "a huge string value": ("c.json", json.dumps({"aug": "flip" * 50000}).encode(), ["aug"]),
    "a huge integer": ("c.json", b'{"epochs": 1' + b"0" * 1000 + b"}", ["epochs"]),
    "deeply nested JSON": ("c.json", b'{"aug": ' + b"[" * 100000 + b"]" * 100000 + b"}", ["JSON"]),
    "a file over the size cap": ("c.toml", b"# padding\n" * 200_000, ["too large"]),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_files_are_one_short_line_naming_the_file_and_key(case, good, tmp_path):
    name, data, fragments = BAD_CONFIGS[case]
    cfg = tmp_path / name
    cfg.write_bytes(data)
    out = tmp_path / "o"
    line = one_line_error(invoke("train", "--config", cfg, "--data", good, "--out", out, *tiny()))
    assert str(cfg) in line, line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert len(line) < 300 + len(str(cfg)), line  # a short prefix of a value at most
    assert not out.exists()


def test_a_folder_given_as_config_says_it_is_a_folder(good, tmp_path):
    folder = tmp_path / "conf.yaml"
    folder.mkdir()
    one_line_error(invoke("train", "--config", folder, "--data", good, *tiny()), str(folder), "is a folder")


def test_good_config_values_still_load(tmp_path):
    from camseg_cli.core.train.config_file import read_config_file

    cfg = tmp_path / "c.yaml"
    cfg.write_text("base: &b {lr: 0.01}\nlr: 0.002\nseed: 4294967295\nepochs: 3\namp: false\nsize: 64x96\n")
    with pytest.raises(Exception, match="base"):  # an unknown key is still refused, anchors or not
        read_config_file(cfg)
    cfg.write_text("lr: 0.002\nseed: 4294967295\nepochs: 3\namp: false\nsize: 64x96\nseeds: [0, 1]\n")
    got = read_config_file(cfg)
    assert got == {
        "lr": 0.002,
        "seed": 2**32 - 1,
        "epochs": 3,
        "amp": False,
        "size": (64, 96),
        "seeds": [0, 1],
    }


# ==================================================================================== numeric options

BAD_OPTIONS = {
    "train --seed -1": (["train", "--data", "{data}", *tiny(seed="-1")], "--seed -1"),
    "train --seed 2^64": (["train", "--data", "{data}", *tiny(seed=str(2**64))], "--seed"),
    "train --lr inf": (["train", "--data", "{data}", *tiny(lr="inf")], "--lr inf"),
    "train --lr nan": (["train", "--data", "{data}", *tiny(lr="nan")], "--lr nan"),
    "train --weight-decay nan": (["train", "--data", "{data}", *tiny(weight_decay="nan")], "--weight-decay"),
    "train --warmup-epochs inf": (
        ["train", "--data", "{data}", *tiny(warmup_epochs="inf")],
        "--warmup-epochs inf",
    ),
    "train --workers -2": (["train", "--data", "{data}", *tiny(workers="-2")], "--workers -2"),
    "train --seeds 0,-1": (["train", "--data", "{data}", *tiny(seeds="0,-1")], "--seeds"),
    "train --seeds 2^40": (["train", "--data", "{data}", *tiny(seeds=f"0,{2**40}")], "--seeds"),
    "stats --dark-threshold nan": (
        ["stats", "--data", "{data}", "--dark-threshold", "nan"],
        "--dark-threshold nan",
    ),
    "stats --dark-threshold 300": (
        ["stats", "--data", "{data}", "--dark-threshold", "300"],
        "--dark-threshold 300",
    ),
    "stats --leakage-threshold -1": (
        ["stats", "--data", "{data}", "--leakage", "--leakage-threshold", "-1"],
        "--leakage-threshold",
    ),
    "evaluate --seed -1": (["evaluate", "{ckpt}", "--seed", "-1"], "--seed -1"),
    "evaluate --bootstrap -5": (["evaluate", "{ckpt}", "--bootstrap", "-5"], "--bootstrap -5"),
    "evaluate --workers -1": (["evaluate", "{ckpt}", "--workers", "-1"], "--workers -1"),
    "compare --seed 2^63": (["compare", "{ckpt}", "--seed", str(2**63)], "--seed"),
    "compare --bootstrap -1": (["compare", "{ckpt}", "--bootstrap", "-1"], "--bootstrap -1"),
    "compare --block 0": (["compare", "{ckpt}", "--block", "0"], "--block 0"),
    "compare --min-effect nan": (["compare", "{ckpt}", "--min-effect", "nan"], "--min-effect nan"),
    "compare --samples -1": (["compare", "{ckpt}", "--samples", "-1"], "--samples -1"),
    "predict --alpha nan": (["predict", "{ckpt}", "{data}", "--alpha", "nan"], "--alpha nan"),
    "predict --workers -1": (["predict", "{ckpt}", "{data}", "--workers", "-1"], "--workers -1"),
    "synth --seed -1": (["synth", "{tmp}/s", "--seed", "-1"], "--seed -1"),
    "synth --images 10^12": (["synth", "{tmp}/s", "--images", str(10**12)], "--images"),
    "augment-preview --seed -1": (["augment-preview", "--data", "{data}", "--seed", "-1"], "--seed -1"),
    "download --timeout nan": (
        ["download", "camvid", "--dest", "{tmp}/dl", "--timeout", "nan"],
        "--timeout nan",
    ),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_out_of_range_numbers_are_one_line_before_any_work(case, good, scored, tmp_path):
    args, fragment = BAD_OPTIONS[case]
    subs = {"{data}": str(good), "{ckpt}": str(scored["ckpt"]), "{tmp}": str(tmp_path)}
    for k, v in subs.items():
        args = [a.replace(k, v) for a in args]
    out = tmp_path / "o"
    if args[0] not in ("synth", "download"):
        args += ["--out", str(out)]
    flag, _, value = fragment.partition(" ")
    line = one_line_error(invoke(*args), f"{flag} must be")
    assert not value or f"not {value}" in line, line
    assert files_under(tmp_path) == []


def test_a_bad_number_is_refused_before_torch_is_imported(good, tmp_path):
    code = (
        "import sys\nfrom camseg_cli.cli import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n    print('exit', e.code)\n"
        "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (
        ["train", "--data", str(good), "--seed", "-1"],
        ["train", "--data", str(good), "--lr", "inf"],
        ["compare", "x.pt", "--min-effect", "nan"],
        ["stats", "--data", str(good), "--dark-threshold", "nan"],
    ):
        done = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120
        )
        assert "exit 1" in done.stdout and "torch not loaded" in done.stdout, (args, done.stdout, done.stderr)


# ==================================================================================== checkpoint fields


def _with(ckpt: Path, dest: Path, **fields) -> Path:
    obj = torch.load(ckpt, weights_only=True)
    obj.update(fields)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(dest, obj)


def _std(std):
    return {"mean": [0.485, 0.456, 0.406], "std": std}


BAD_FIELDS = {
    # case: (fields, the field the error names)
    "config a string": ({"config": "lr=1"}, "config"),
    "config split_by a number": ({"config": {"split_by": 5}}, "config.split_by"),
    "config seed text": ({"config": {"seed": "zero"}}, "config.seed"),
    "normalization a string": ({"normalization": "imagenet"}, "normalization"),
    "normalization without std": ({"normalization": {"mean": [0, 0, 0]}}, "normalization"),
    # a flipped byte in a key: mean and "sdd" is neither subset nor superset of {mean, std}
    "normalization std misspelt": ({"normalization": {"mean": [0, 0, 0], "sdd": [1, 1, 1]}}, "normalization"),
    "std of zero": ({"normalization": _std([0.229, 0.0, 0.225])}, "normalization.std"),
    "std NaN": ({"normalization": _std([math.nan, 0.224, 0.225])}, "normalization.std"),
    "std of two values": ({"normalization": _std([0.2, 0.2])}, "normalization.std"),
    "mean infinite": ({"normalization": {"mean": [math.inf, 0, 0], "std": [1, 1, 1]}}, "normalization.mean"),
    "data a number": ({"data": 5}, "data"),
    "layout a list": ({"layout": ["rgb"]}, "layout"),
    "epochs text": ({"epochs": "ten"}, "epochs"),
    "epoch a float": ({"epoch": 1.5}, "epoch"),
    "image_size 60000x60000": ({"image_size": [60000, 60000]}, "image_size"),
    "image_size of bools": ({"image_size": [True, True]}, "image_size"),
    "seed negative": ({"seed": -1}, "seed"),
    "history a string": ({"history": "long"}, "history"),
    "history of numbers": ({"history": [1, 2]}, "history"),
    "aux_loss text": ({"aux_loss": "yes"}, "aux_loss"),
    "train_seconds text": ({"train_seconds": "fast"}, "train_seconds"),
    "aug a number": ({"aug": 5}, "aug"),
    "run a list": ({"run": ["a"]}, "run"),
    "model with text in it": ({"model": {"w": "not a tensor"}}, "model"),
}


@pytest.mark.parametrize("case", list(BAD_FIELDS))
def test_each_bad_checkpoint_field_is_one_line_naming_file_and_field(case, scored, tmp_path):
    fields, field = BAD_FIELDS[case]
    bad = _with(scored["ckpt"], tmp_path / "bad.pt", **fields)
    out = tmp_path / "out"
    line = one_line_error(invoke("predict", bad, scored["data"] / "test", "--out", out), str(bad))
    assert f"checkpoint field {field}" in line, line
    assert len(line) < 300 + len(str(bad)), line
    assert files_under(out) == []


@pytest.mark.parametrize("case", ["std of zero", "image_size 60000x60000", "config a string", "epochs text"])
def test_every_command_gives_the_same_line_for_a_bad_field(case, scored, good, tmp_path):
    fields, field = BAD_FIELDS[case]
    out = tmp_path / "out"
    bad = _with(scored["ckpt"], out / "runs" / RUN / "last.pt", resume={}, **fields)
    before = files_under(out)
    commands = {
        "evaluate": ["evaluate", bad, "--out", out],
        "predict": ["predict", bad, scored["data"] / "test", "--out", out],
        "compare": ["compare", bad, "--out", out],
        "export": ["export", bad, "--format", "torchscript", "--out", out],
        "train --resume": ["train", "--resume", "--out", out, "--run", RUN],
    }
    lines = {name: one_line_error(invoke(*args), str(bad), field) for name, args in commands.items()}
    assert len(set(lines.values())) == 1, lines
    assert files_under(out) == before


def test_a_valid_checkpoint_still_loads_with_its_fields(scored):
    ckpt = load_checkpoint(scored["ckpt"])
    assert ckpt["image_size"] == list(SIZE) and ckpt["classes_map"] == CAMVID11


# ==================================================================================== same checkpoint twice


@pytest.mark.parametrize("how", ["same path", "another spelling of the path", "a byte-for-byte copy"])
def test_compare_counts_one_checkpoint_once_and_says_so(how, scored, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ck = tmp_path / "ck.pt"
    shutil.copy(scored["ckpt"], ck)
    other = {
        "same path": ck,
        "another spelling of the path": Path(".") / "sub" / ".." / "ck.pt",
        "a byte-for-byte copy": Path(shutil.copy(ck, tmp_path / "copy.pt")),
    }[how]
    (tmp_path / "sub").mkdir()
    out = tmp_path / "out"
    args = ["compare", ck, other, "--bootstrap", "0", "--samples", "0", "--out", out, "--device", "cpu"]
    done = invoke(*args, "--json")
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert len(doc["runs"]) == 1, doc["runs"]
    assert "counted once" in done.stderr and str(other) in done.stderr, done.stderr


# ==================================================================================== folder entries


def _hostile_entries(folder: Path) -> dict[str, Path]:
    """A dangling symlink, a FIFO and a symlink loop, each named like an image."""
    entries = {"dangling": folder / "zz_dangling.png", "fifo": folder / "zz_fifo.png"}
    entries["dangling"].symlink_to(folder / "does-not-exist.png")
    os.mkfifo(entries["fifo"])
    loop_a, loop_b = folder / "zz_loop.png", folder / "zz_loop2.png"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    entries["loop"], entries["loop2"] = loop_a, loop_b
    return entries


class _FifoGuard:
    """Opens the FIFO's write end in a thread: were the code under test to open the FIFO for reading,
    it would get EOF instead of hanging the suite, and the guard would notice it had been opened."""

    def __init__(self, fifo: Path):
        self.opened = threading.Event()
        threading.Thread(target=self._write_end, args=(fifo,), daemon=True).start()

    def _write_end(self, fifo: Path) -> None:
        with open(fifo, "wb"):
            self.opened.set()


def _data_with_hostile_entries(tmp_path: Path, good: Path) -> tuple[Path, dict[str, Path]]:
    data = tmp_path / "data"
    shutil.copytree(good, data)
    return data, _hostile_entries(data / "train")


def test_predict_names_every_entry_it_cannot_read(scored, tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(scored["data"] / "test", folder)
    entries = _hostile_entries(folder)
    guard = _FifoGuard(entries["fifo"])
    args = ["--out", tmp_path / "o", "--device", "cpu", "--save", "index"]
    done = invoke("predict", scored["ckpt"], folder, *args)
    assert done.exit_code == 0, done.output
    assert "3 images" in done.stdout
    for kind, path in entries.items():
        assert str(path) in done.stderr, (kind, done.stderr)
    assert "FIFO" in done.stderr and "dangling" in done.stderr and "loop" in done.stderr
    assert not guard.opened.is_set()


def test_predict_names_a_fifo_given_directly(scored, tmp_path):
    fifo = tmp_path / "direct.png"
    os.mkfifo(fifo)
    guard = _FifoGuard(fifo)
    done = invoke("predict", scored["ckpt"], fifo, scored["data"] / "test", "--out", tmp_path / "o")
    assert str(fifo) in done.stderr and "FIFO" in done.stderr, done.output
    assert not guard.opened.is_set()


def test_stats_stops_at_an_unreadable_entry_and_names_it(good, tmp_path):
    data, entries = _data_with_hostile_entries(tmp_path, good)
    guard = _FifoGuard(entries["fifo"])
    line = one_line_error(invoke("stats", "--data", data, "--out", tmp_path / "o", "-q"), alone=False)
    assert "zz_" in line and ("dangling" in line or "FIFO" in line or "loop" in line), line
    assert not guard.opened.is_set()


def test_train_stops_before_training_at_an_unreadable_entry(good, tmp_path):
    data, entries = _data_with_hostile_entries(tmp_path, good)
    guard = _FifoGuard(entries["fifo"])
    out = tmp_path / "o"
    line = one_line_error(invoke("train", "--data", data, "--out", out, *tiny()), alone=False)
    assert "zz_dangling.png" in line and "dangling symlink" in line, line
    assert not (out / f"{RUN}.pt").exists()
    assert not guard.opened.is_set()


@pytest.mark.slow
def test_train_skip_bad_names_each_unreadable_entry_and_trains_on_the_rest(good, tmp_path):
    data, entries = _data_with_hostile_entries(tmp_path, good)
    guard = _FifoGuard(entries["fifo"])
    out = tmp_path / "o"
    done = invoke("train", "--data", data, "--out", out, "--skip-bad", *tiny())
    assert done.exit_code == 0, done.output
    for path in entries.values():
        assert str(path) in done.stderr, (path, done.stderr)
    assert "4 of 8 train samples skipped" in done.stderr.replace("\n", " "), done.stderr
    assert (out / f"{RUN}.pt").is_file()
    assert not guard.opened.is_set()


def test_evaluate_with_the_disk_cache_names_a_fifo_instead_of_hanging(scored, tmp_path):
    data = tmp_path / "d"
    shutil.copytree(scored["data"], data)
    fifo = data / "test" / "zz_fifo.png"
    os.mkfifo(fifo)
    guard = _FifoGuard(fifo)
    args = ["evaluate", scored["ckpt"], "--data", data, "--bootstrap", "0", "--out", tmp_path / "o"]
    one_line_error(invoke(*args, "--cache", "disk"), str(fifo), "FIFO", alone=False)
    done = invoke(*args, "--cache", "disk", "--skip-bad")
    assert done.exit_code == 0 and str(fifo) in done.stderr, done.output
    assert not guard.opened.is_set()


# ==================================================================================== damaged disk cache


@pytest.mark.parametrize("damage", ["masks beyond any class", "image bytes flipped"])
def test_a_cache_of_the_right_size_with_garbage_bytes_is_rebuilt(damage, tmp_path, caplog):
    data = write_layout(tmp_path / "d", "rgb", {"train": random_samples(CAMVID11, 3, (24, 32))}, CAMVID11)
    refs = open_dataset(data).samples("train")
    folder = sample_dataset(refs, CAMVID11, cache="disk", cache_dir=tmp_path / "c").folder
    target = folder / (cache_mod.MASKS if damage.startswith("masks") else cache_mod.IMAGES)
    size = target.stat().st_size
    raw = bytearray(target.read_bytes())
    if damage.startswith("masks"):
        raw[:] = bytes([250]) * size
    else:
        raw[size // 2] ^= 0xFF
    target.write_bytes(bytes(raw))
    assert target.stat().st_size == size
    with caplog.at_level(logging.WARNING, logger="camseg"):
        rebuilt = sample_dataset(refs, CAMVID11, cache="disk", cache_dir=tmp_path / "c")
    assert "damaged" in caplog.text and "rebuilding" in caplog.text
    plain = SegDataset(refs, CAMVID11)
    for i in range(len(refs)):
        for a, b in zip(rebuilt[i], plain[i]):
            assert np.array_equal(a, b)


def test_evaluate_on_a_damaged_cache_scores_as_on_the_files(scored, tmp_path):
    kw = {"split": "test", "device": "cpu", "bootstrap": 0, "cache_dir": tmp_path / "c"}
    truth = evaluate_checkpoint(scored["ckpt"], cache="none", **kw)
    evaluate_checkpoint(scored["ckpt"], cache="disk", **kw)
    (masks,) = (tmp_path / "c").glob(f"*/{cache_mod.MASKS}")
    masks.write_bytes(bytes([200]) * masks.stat().st_size)
    again = evaluate_checkpoint(scored["ckpt"], cache="disk", **kw)
    assert np.array_equal(again.per_image, truth.per_image)
    assert again.scores.miou == truth.scores.miou
