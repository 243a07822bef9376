"""`camseg evaluate` and the evaluation core: reports, cache, class checks, safe checkpoint loading."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.evaluation.scoring.evaluate import evaluate_checkpoint
from camseg_cli.core.evaluation.scoring.metrics import scores_from_matrix
from camseg_cli.core.evaluation.scoring.result_cache import cached_result, load_cache
from camseg_cli.core.model.checkpoint import NORMALIZATION, build_model, make_checkpoint, save_checkpoint
from tests.conftest import random_samples, write_layout

runner = CliRunner()
SIZE = (64, 96)


def with_void(samples, seed: int = 0):
    """Mark a random block of each mask as void (camvid11's index 11)."""
    rng = np.random.default_rng(seed)
    out = []
    for name, image, mask in samples:
        mask = mask.copy()
        y, x = rng.integers(0, 40), rng.integers(0, 60)
        mask[y : y + 16, x : x + 24] = 11
        out.append((name, image, mask))
    return out


def tiny_model(num_classes: int, seed: int = 0) -> torch.nn.Module:
    """An untrained DeepLabV3 whose BatchNorm statistics are calibrated, so its argmax varies by pixel."""
    torch.manual_seed(seed)
    model = build_model("mobilenet_v3_large", num_classes, "none")
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    mean, std = (torch.tensor(v)[:, None, None] for v in (NORMALIZATION["mean"], NORMALIZATION["std"]))
    model.train()
    with torch.no_grad():
        model((torch.rand(4, 3, *SIZE) - mean) / std)  # what normalised images look like
    return model.eval()


def tiny_checkpoint(path, data, classes, run: str = "tiny"):
    ckpt = make_checkpoint(
        tiny_model(classes.num_classes),
        arch="mobilenet_v3_large",
        classes=classes,
        image_size=SIZE,
        run=run,
        data=str(data),
        layout="rgb",
        aug="none",
        epoch=1,
        history=[],
    )
    # model.versions() stores torch's TorchVersion objects, which weights_only loading refuses
    ckpt["versions"] = {k: str(v) for k, v in ckpt["versions"].items()}
    return save_checkpoint(path, ckpt)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 4-image test split (classes 0..5 and void only) and a checkpoint that records it."""
    root = tmp_path_factory.mktemp("eval")
    cmap = preset("camvid11")
    splits = {
        s: with_void(random_samples(cmap, 4, SIZE, seed=i, used=6), i) for i, s in enumerate(("val", "test"))
    }
    data = write_layout(root / "data", "rgb", splits, cmap)
    return {"data": data, "ckpt": tiny_checkpoint(root / "tiny.pt", data, cmap), "root": root}


def test_evaluate_json_defaults_to_the_recorded_dataset(run, tmp_path):
    res = runner.invoke(
        app, ["evaluate", str(run["ckpt"]), "--json", "--bootstrap", "200", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["checkpoint"] == str(run["ckpt"]) and doc["split"] == "test" and doc["images"] == 4
    lo, hi = doc["miou_ci"]
    assert lo <= doc["miou"] <= hi
    for key in ("pixel_acc", "mean_acc", "fwiou"):
        assert 0 <= doc[key] <= 1
    per_class = doc["per_class"]
    assert list(per_class) == list(preset("camvid11").names[:11])  # class order, void reported apart
    assert set(per_class["Sky"]) >= {"iou", "acc", "pixels"}
    absent = [c for c, v in per_class.items() if v["pixels"] == 0 and v["predicted"] == 0]
    assert absent and all(per_class[c]["iou"] is None for c in absent)  # NaN -> null
    assert doc["absent"] == len(absent)
    assert doc["void"]["name"] == "Void" and doc["void"]["pixels"] == 4 * 16 * 24
    stem = tmp_path / "eval" / "tiny-test"
    for suffix in (".json", ".csv", ".npz"):
        assert stem.with_suffix(suffix).is_file()
    assert (tmp_path / "eval" / "tiny-test-confusion.png").stat().st_size > 1000
    assert json.loads(stem.with_suffix(".json").read_text())["miou"] == doc["miou"]


def test_evaluate_table(run, tmp_path):
    res = runner.invoke(app, ["evaluate", str(run["ckpt"]), "--split", "val", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "Sky" in res.stdout and "Void (void, not scored)" in res.stdout
    assert "mIoU" in res.stdout and "95% CI" in res.stdout and "left out" in res.stdout


def test_result_scores_and_cache_round_trip(run, tmp_path):
    result = evaluate_checkpoint(run["ckpt"], split="test", batch_size=3, device="cpu", bootstrap=100)
    assert result.per_image.shape == (4, 12, 12) and len(result.image_names) == 4
    s = scores_from_matrix(torch.from_numpy(result.per_image.sum(0)), 11)
    assert result.scores.miou == s.miou
    runner.invoke(app, ["evaluate", str(run["ckpt"]), "--bootstrap", "100", "--out", str(tmp_path), "--json"])
    cached = load_cache(tmp_path / "eval" / "tiny-test.npz")
    np.testing.assert_array_equal(cached.per_image, result.per_image)  # batch size does not matter
    assert cached.image_names == result.image_names and cached.ci == result.ci
    assert cached_result(run["ckpt"], "tiny", "test", tmp_path) is not None
    assert cached_result(run["ckpt"], "tiny", "val", tmp_path) is None
    # keyed by content: an identical copy (new path, new mtime) hits, a changed byte misses
    copy = tmp_path / "copy.pt"
    shutil.copyfile(run["ckpt"], copy)
    assert cached_result(copy, "tiny", "test", tmp_path) is not None
    with open(copy, "ab") as f:
        f.write(b"\0")
    assert cached_result(copy, "tiny", "test", tmp_path) is None


def test_explicit_data_and_missing_recorded_data(run, tmp_path):
    cmap = preset("camvid11")
    ckpt = tiny_checkpoint(tmp_path / "moved.pt", tmp_path / "gone", cmap, run="moved")
    res = runner.invoke(app, ["evaluate", str(ckpt), "--out", str(tmp_path)])
    assert res.exit_code == 1 and "pass --data" in res.output and "Traceback" not in res.output
    res = runner.invoke(
        app, ["evaluate", str(ckpt), "--data", str(run["data"]), "--out", str(tmp_path), "--json"]
    )
    assert res.exit_code == 0, res.output


def test_dataset_with_other_classes_is_refused(run, tmp_path):
    other = write_layout(
        tmp_path / "c32", "rgb", {"test": random_samples(preset("camvid32"), 1, SIZE)}, preset("camvid32")
    )
    res = runner.invoke(app, ["evaluate", str(run["ckpt"]), "--data", str(other), "--out", str(tmp_path)])
    assert res.exit_code == 1
    assert "do not match" in res.output and "32 classes" in res.output and "12 classes" in res.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_suggests_cpu(run, tmp_path):
    res = runner.invoke(app, ["evaluate", str(run["ckpt"]), "--device", "cuda", "--out", str(tmp_path)])
    assert res.exit_code == 1 and "--device cpu" in res.output


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # unpickling would create the marker file


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_pickled_code_is_refused_and_never_runs(tmp_path, command):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "camseg-checkpoint", "payload": _Evil(marker)}, evil)
    args = [command, str(evil)] + (["--out", str(tmp_path)] if command == "evaluate" else [str(tmp_path)])
    res = runner.invoke(app, args)
    assert res.exit_code == 1
    assert "refused" in res.output and len(res.output.strip().splitlines()) == 1
    assert not marker.exists()


def test_the_crafted_pickle_really_runs_code_when_unpickled(tmp_path):
    """Guards the test above: the same file, loaded the unsafe way, does create its marker."""
    marker = tmp_path / "ran"
    torch.save({"payload": _Evil(marker)}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("truncated", "not a readable checkpoint"),
        ("foreign", "not a camseg checkpoint"),
        ("text", "not a checkpoint"),
    ],
)
def test_bad_checkpoint_files_are_one_line_errors(run, tmp_path, content, message):
    path = tmp_path / "bad.pt"
    if content == "truncated":
        path.write_bytes(run["ckpt"].read_bytes()[:5000])
    elif content == "foreign":
        torch.save({"weights": torch.zeros(2)}, path)
    else:
        path.write_text("hello")
    res = runner.invoke(app, ["evaluate", str(path), "--out", str(tmp_path)])
    assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output
