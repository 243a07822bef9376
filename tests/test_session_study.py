"""The session's tiny study (tests/conftest.py: 2 augs x 3 seeds, 1 epoch), its numbers checked against
numbers computed here: evaluate's matrices and scores against a bincount of predict's masks, predict
against the network's own logits, corrupted scores and CD by hand, compare's JSON, CSV and report against
each other and its cache, and a finished run that --resume leaves alone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large
from typer.testing import CliRunner, Result

from camseg_cli.cli import app
from camseg_cli.core.evaluation.scoring.result_cache import load_cache
from camseg_cli.core.files import write_text
from tests.conftest import TinyStudy, listing

runner = CliRunner()


def invoke(*args: object) -> Result:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (args, result.output)
    return result


# ---------------------------------------------------------------------------------- by hand, from files


def class_table(data: Path) -> tuple[list[str], dict[int, int], int]:
    """class_dict.csv read here: names, packed colour -> index, and the void index."""
    rows = [ln.split(",") for ln in (data / "class_dict.csv").read_text().splitlines()[1:] if ln.strip()]
    names = [r[0].strip() for r in rows]
    colours = {(int(r) << 16) | (int(g) << 8) | int(b): i for i, (_, r, g, b) in enumerate(rows)}
    return names, colours, names.index("Void")


def label(data: Path, split: str, name: str) -> np.ndarray:
    """The class-index mask of one sample, decoded from its RGB mask here."""
    _, colours, _ = class_table(data)
    rgb = np.asarray(Image.open(data / f"{split}_labels" / f"{name}_L.png").convert("RGB")).astype(np.int64)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return np.vectorize(colours.__getitem__)(packed)


def image(data: Path, split: str, name: str) -> np.ndarray:
    return np.asarray(Image.open(data / split / f"{name}.png").convert("RGB"))


def confusion(labels: np.ndarray, preds: np.ndarray, n: int, void: int) -> np.ndarray:
    """(n, n) matrix, rows label, columns prediction, void pixels left out."""
    keep = labels != void
    return np.bincount(labels[keep] * n + preds[keep], minlength=n * n).reshape(n, n)


def miou(mat: np.ndarray, void: int) -> float:
    """Mean IoU over the classes labelled or predicted, void left out; a labelled pixel predicted as void
    is a miss of its class (the void row is empty: void pixels are never counted)."""
    m = mat.astype(np.float64)
    inter, union = np.diag(m), m.sum(0) + m.sum(1) - np.diag(m)
    scored = (union > 0) & (np.arange(len(m)) != void)
    return float(np.mean(inter[scored] / union[scored]))


def logits(ckpt_path: Path, picture: np.ndarray) -> torch.Tensor:
    """(classes, H, W) logits at the picture's size: torchvision's network with the checkpoint's weights,
    the image resized to the training size, normalised, the logits resized bilinearly back."""
    ckpt = torch.load(ckpt_path, weights_only=True)
    net = deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=len(ckpt["classes"]["names"])
    )
    net.load_state_dict(ckpt["model"])
    h, w = ckpt["image_size"]
    small = cv2.resize(picture, (w, h), interpolation=cv2.INTER_LINEAR)
    x = torch.from_numpy(small).permute(2, 0, 1).float() / 255
    norm = ckpt["normalization"]
    x = (x - torch.tensor(norm["mean"])[:, None, None]) / torch.tensor(norm["std"])[:, None, None]
    with torch.no_grad():
        out = net.eval()(x[None])["out"]
    return F.interpolate(out, size=picture.shape[:2], mode="bilinear", align_corners=False)[0]


def names_of(data: Path, split: str) -> list[str]:
    return sorted(p.stem for p in (data / split).glob("*.png"))


def agrees(pred: np.ndarray, scores: torch.Tensor) -> None:
    """pred is the argmax of scores, except where the two best logits tie to float rounding (camseg folds
    BatchNorm into the convolutions and runs NHWC, so its sums round differently)."""
    top2 = scores.topk(2, dim=0).values
    tie = (top2[0] - top2[1]).numpy() < 1e-3
    differs = pred != scores.argmax(0).numpy()
    assert not (differs & ~tie).any(), f"{int((differs & ~tie).sum())} pixels differ beyond a tie"
    assert differs.mean() < 0.01


# ---------------------------------------------------------------------------------- the fixture itself


def test_the_study_is_every_aug_x_every_seed_trained_as_asked(tiny_study):
    for aug in tiny_study.augs:
        for seed in tiny_study.seeds:
            ckpt = torch.load(tiny_study.checkpoint(aug, seed), weights_only=True)
            assert (ckpt["aug"], ckpt["seed"], ckpt["epoch"], ckpt["image_size"]) == (aug, seed, 1, [32, 48])
            rows = pd.read_csv(tiny_study.run_dir(aug, seed) / "metrics.csv")
            assert rows.val_miou.tolist() == pytest.approx([ckpt["metrics"]["miou"]], nan_ok=True)
    assert len(names_of(tiny_study.data, "test")) == 2 and len(names_of(tiny_study.data, "train")) == 4


def test_a_copy_keeps_the_shared_study_safe_from_atomic_writes_and_the_guard_sees_the_rest(tmp_path):
    """Copies hard-link their files: an atomic replace (how camseg writes) leaves the original alone; an
    in-place write would reach it, and the listing the session guard compares says so."""
    shared = tmp_path / "shared" / "out"
    (shared / "runs" / "r").mkdir(parents=True)
    (shared / "r.pt").write_bytes(b"weights")
    (shared / "runs" / "r" / "metrics.csv").write_text("epoch\n1\n")
    study = TinyStudy(data=tmp_path / "data", out=shared, train_args=("--out", str(shared)))
    before = listing(shared)
    copy = study.copy(tmp_path / "mine")
    assert copy.train_args == ("--out", str(tmp_path / "mine" / "out"))
    assert (copy.out / "r.pt").stat().st_ino == (shared / "r.pt").stat().st_ino  # linked, not copied
    write_text(copy.out / "r.pt", "new weights")  # temp file + rename, as every camseg write
    (copy.out / "new.txt").write_text("x")
    assert listing(shared) == before and (shared / "r.pt").read_bytes() == b"weights"
    with open(copy.out / "runs" / "r" / "metrics.csv", "a") as f:  # in place, through the link
        f.write("2\n")
    assert listing(shared) != before
    os.utime(shared / "r.pt", ns=(0, 0))  # a touch alone changes the listing too
    assert listing(shared)["r.pt"] != before["r.pt"]


# ---------------------------------------------------------------------------------- evaluate and predict


def test_evaluate_matrices_and_miou_equal_a_bincount_of_predicts_masks(tiny_study, tmp_path):
    ckpt, data = tiny_study.checkpoint("flip", 1), tiny_study.data
    names, _, void = class_table(data)
    doc = json.loads(invoke("evaluate", ckpt, "--out", tmp_path, "--bootstrap", "0", "--json", "-q").stdout)
    invoke("predict", ckpt, data / "test", "--out", tmp_path / "p", "--save", "index", "-q")
    cached = load_cache(tmp_path / "eval" / f"{tiny_study.run('flip', 1)}-test.npz")
    assert cached.image_names == names_of(data, "test")
    mats = []
    for i, name in enumerate(cached.image_names):
        truth = label(data, "test", name)
        pred = np.asarray(Image.open(tmp_path / "p" / f"{name}_index.png")).astype(np.int64)
        mats.append(confusion(truth, pred, len(names), void))
        np.testing.assert_array_equal(cached.per_image[i], mats[-1])
        assert cached.ignored[i] == (truth == void).sum()
    total = np.sum(mats, axis=0)
    assert doc["images"] == 2 and doc["miou"] == pytest.approx(miou(total, void))
    assert doc["pixel_acc"] == pytest.approx(np.trace(total) / total.sum())
    assert doc["void"]["pixels"] == sum((label(data, "test", n) == void).sum() for n in cached.image_names)
    for k, name in enumerate(names):
        if k == void:
            continue
        union = total[k].sum() + total[:, k].sum() - total[k, k]
        row = doc["per_class"][name]
        assert row["pixels"] == total[k].sum() and row["predicted"] == total[:, k].sum(), name
        assert row["iou"] == (None if union == 0 else pytest.approx(total[k, k] / union)), name


def test_predict_writes_the_argmax_of_the_networks_logits(tiny_study, tmp_path):
    ckpt, data = tiny_study.checkpoint("none", 2), tiny_study.data
    invoke("predict", ckpt, data / "test", "--out", tmp_path, "--save", "index", "-q")
    for name in names_of(data, "test"):
        pred = np.asarray(Image.open(tmp_path / f"{name}_index.png")).astype(np.int64)
        agrees(pred, logits(ckpt, image(data, "test", name)))


def test_the_checkpoints_validation_matrix_is_what_evaluate_finds_on_val(tiny_study, tmp_path):
    """Training's validation and evaluate share one inference path: the same matrix, to the pixel."""
    ckpt = tiny_study.checkpoint("none", 1)
    doc = json.loads(
        invoke("evaluate", ckpt, "--split", "val", "--out", tmp_path, "--bootstrap", "0", "--json").stdout
    )
    val = load_cache(tmp_path / "eval" / f"{tiny_study.run('none', 1)}-val.npz")
    saved = torch.load(ckpt, weights_only=True)["metrics"]
    np.testing.assert_array_equal(val.per_image.sum(0), np.array(saved["confusion"]))
    assert doc["miou"] == pytest.approx(saved["miou"])


def test_evaluate_corrupt_low_light_scores_and_cd_by_hand(tiny_study, tmp_path):
    from camseg_cli.core.data.corruption.suite import corrupt

    ckpt, ref, data = tiny_study.checkpoint("flip", 0), tiny_study.checkpoint("none", 0), tiny_study.data
    run, ref_run = tiny_study.run("flip", 0), tiny_study.run("none", 0)
    said = invoke("evaluate", ckpt, "--corrupt", "low_light", "--severity", "1-2", "--reference", ref,
                  "--out", tmp_path, "--bootstrap", "0", "-q")  # fmt: skip
    assert "mCD" in said.output
    rep = json.loads((tmp_path / "eval" / f"{run}-test-robustness.json").read_text())
    (row,) = rep["corruptions"]
    _, _, void = class_table(data)
    clean = load_cache(tmp_path / "eval" / f"{run}-test.npz")
    assert rep["clean_miou"] == pytest.approx(miou(clean.per_image.sum(0), void))
    mine, theirs, moved = [], [], 0
    for severity in (1, 2):
        for who, scores in ((run, mine), (ref_run, theirs)):
            path = tmp_path / "eval" / "corrupt" / f"{who}-test-low_light-s{severity}-seed0.npz"
            scores.append(miou(load_cache(path).per_image.sum(0), void))
        passed = load_cache(tmp_path / "eval" / "corrupt" / f"{run}-test-low_light-s{severity}-seed0.npz")
        assert passed.image_names == clean.image_names
        for i, name in enumerate(passed.image_names):  # the pass saw the frame corrupted as corrupt() does
            truth = label(data, "test", name)
            dark, same = corrupt(image(data, "test", name), truth, "low_light", severity, 0, name)
            assert same is truth and dark.mean() < image(data, "test", name).mean()  # photometric: mask kept
            pred = logits(ckpt, dark).argmax(0).numpy()
            mat = confusion(truth, pred, len(passed.per_image[i]), void)
            assert np.abs(passed.per_image[i] - mat).sum() <= 2 * 0.01 * truth.size  # ties aside (agrees)
            moved += np.abs(clean.per_image[i] - mat).sum()
    assert moved > 2 * 0.01 * 2 * 2 * truth.size  # the dark frames changed the predictions: a real check
    assert [row["miou"]["1"], row["miou"]["2"]] == pytest.approx(mine)
    assert row["mean"] == pytest.approx(np.mean(mine))
    assert row["relative"] == pytest.approx(np.mean(mine) / rep["clean_miou"])
    assert row["cd"] == pytest.approx(sum(1 - m for m in mine) / sum(1 - m for m in theirs))


# ---------------------------------------------------------------------------------- compare


@pytest.fixture(scope="module")
def compared(tiny_study, tmp_path_factory) -> dict:
    """compare over a copy of the six runs, twice; the second must take every evaluation from the cache."""
    import camseg_cli.core.evaluation.compare.runs as runs_mod

    copy = tiny_study.copy(tmp_path_factory.mktemp("compared"))
    calls: list[str] = []
    real = runs_mod.evaluate_checkpoint
    args = ["compare", *copy.checkpoints(), "--out", copy.out, "--bootstrap", "100", "--samples", "0"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            runs_mod, "evaluate_checkpoint", lambda path, *a, **k: calls.append(path) or real(path, *a, **k)
        )
        first = json.loads(invoke(*args, "--json").stdout)
        evaluated = len(calls)
        caches = {p: p.stat().st_mtime_ns for p in (copy.out / "eval").glob("*.npz")}
        again = invoke(*args, "-q")
    return {"study": copy, "doc": first, "evaluated": evaluated, "calls": len(calls), "caches": caches,
            "again": again}  # fmt: skip


def test_compare_scores_each_run_as_its_own_cached_evaluation_says(compared):
    copy: TinyStudy = compared["study"]
    _, _, void = class_table(copy.data)
    runs = {r["run"]: r for r in compared["doc"]["runs"]}
    assert sorted(runs) == sorted(p.stem for p in copy.checkpoints())
    for name, row in runs.items():
        cached = load_cache(copy.out / "eval" / f"{name}-test.npz")
        assert row["miou"] == pytest.approx(miou(cached.per_image.sum(0), void)), name


def test_compare_json_csv_and_report_tell_the_same_numbers(compared):
    doc, out = compared["doc"], compared["study"].out / "compare"
    runs = {r["run"]: r for r in doc["runs"]}
    csv = pd.read_csv(out / "results.csv").set_index("run")
    assert sorted(csv.index) == sorted(runs)
    for name, row in runs.items():
        assert csv.loc[name, "miou"] == pytest.approx(row["miou"]) and csv.loc[name, "seed"] == row["seed"]
    arms = {a["arm"]: a for a in doc["arms"]}
    table = pd.read_csv(out / "arms.csv").set_index("arm")
    report = (out / "report.md").read_text()
    for arm, a in arms.items():
        per_seed = [runs[f"mobilenet_v3_large-{arm}-s{s}"]["miou"] for s in a["seeds"]]
        assert a["miou_per_seed"] == pytest.approx(per_seed)
        assert table.loc[arm, "seeds"] == " ".join(map(str, a["seeds"]))
        for s in per_seed:
            assert f"{s:.3f}" in report, (arm, s)
    flip = arms["flip"]
    paired = np.subtract(flip["miou_per_seed"], arms["none"]["miou_per_seed"])
    assert flip["delta_vs_baseline"] == pytest.approx(paired.mean())


def test_a_second_compare_reads_every_evaluation_from_the_cache(compared):
    assert compared["evaluated"] == 6  # the first compare evaluated each run once
    assert compared["calls"] == 6  # the second one none
    assert "6 evaluation(s) reused" in compared["again"].stdout
    caches = compared["caches"]
    assert len(caches) == 6 and {p: p.stat().st_mtime_ns for p in caches} == caches  # none rewritten


# ---------------------------------------------------------------------------------- train --resume


def test_resume_of_a_finished_run_trains_nothing_and_writes_nothing(tiny_study, tmp_path):
    copy = tiny_study.copy(tmp_path)
    run = copy.run("flip", 1)

    def files() -> dict[str, tuple[int, int]]:
        return {k: v for k, v in listing(copy.out).items() if (copy.out / k).is_file()}

    before = files()
    again = invoke("train", "--resume", "--out", copy.out, "--run", run, "--quiet")
    assert f"{run}: already finished (1 epochs), skipped" in again.stderr, again.output
    assert files() == before  # not a byte written, no file left behind (its lock came and went)
