"""`camseg evaluate --slice dark|sequence`: a slice's mIoU, bootstrap CI and frame count for one checkpoint,
checked against the slice's confusion matrices summed here (frames known dark by construction)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.evaluation.scoring.result_cache import load_cache
from tests.conftest import random_samples, write_layout
from tests.test_evaluate import SIZE, tiny_checkpoint

runner = CliRunner()
CLASSES = preset("camvid11")
REPS, SEED = 300, 4
DARK = [f"0001TP_{i:06d}" for i in range(12)]  # 12 dark frames of one drive
BRIGHT = [f"Seq05VD_f{i:05d}" for i in range(11)]  # 11 bright frames of another
FEW = [f"0016E5_{i:05d}" for i in range(3)]  # a drive of 3 frames: too few to score


def miou_by_hand(m: np.ndarray) -> float:
    """mIoU of one summed matrix: void not a class (a labelled pixel predicted void is still an error of its
    row), classes neither labelled nor predicted left out."""
    m = m.astype(np.float64)
    inter = np.diag(m)
    union = m.sum(0) + m.sum(1) - inter
    scored = (union > 0) & (np.arange(len(m)) != CLASSES.void)
    return float(np.mean(inter[scored] / union[scored]))


def ci_by_hand(mats: np.ndarray) -> tuple[float, float]:
    """Percentile 95% interval over REPS draws of the slice's images with replacement (seed SEED)."""
    draws = np.random.default_rng(SEED).integers(0, len(mats), size=(REPS, len(mats)))
    scores = [miou_by_hand(mats[d].sum(0)) for d in draws]
    lo, hi = np.percentile(scores, [2.5, 97.5])
    return float(lo), float(hi)


@pytest.fixture(scope="module")
def sliced(tmp_path_factory):
    root = tmp_path_factory.mktemp("slices")
    samples = random_samples(CLASSES, len(DARK) + len(BRIGHT) + len(FEW), SIZE, seed=3, used=6)
    test = []
    for (_, image, mask), name in zip(samples, DARK + BRIGHT + FEW):
        if name in DARK:
            image = (image // 10).astype(np.uint8)  # mean luminance about 12, under the threshold of 40
        else:
            image = np.maximum(image, 80).astype(np.uint8)  # mean luminance well above 40
        test.append((name, image, mask))
    data = write_layout(root / "data", "rgb", {"val": test[:2], "test": test}, CLASSES)
    ckpt = tiny_checkpoint(root / "tiny.pt", data, CLASSES)
    out = root / "out"
    args = ["evaluate", str(ckpt), "--out", str(out), "--bootstrap", str(REPS), "--seed", str(SEED)]
    res = runner.invoke(app, [*args, "--slice", "dark,sequence", "--json"])
    assert res.exit_code == 0, res.output
    table = runner.invoke(app, [*args, "--slice", "dark,sequence"])
    assert table.exit_code == 0, table.output
    return json.loads(res.stdout), table.output, load_cache(out / "eval" / "tiny-test.npz"), out


def _mats(cache, names: list[str]) -> np.ndarray:
    index = {n: i for i, n in enumerate(cache.image_names)}
    return cache.per_image[[index[n] for n in names]]


def test_slice_miou_and_ci_equal_the_slices_summed_matrices(sliced):
    doc, _, cache, _ = sliced
    rows = {r["slice"]: r for r in doc["slices"]}
    assert list(rows)[0] == "dark" and set(rows) == {"dark", "seq 0001TP", "seq Seq05VD", "seq 0016E5"}
    for name, frames in (("dark", DARK), ("seq 0001TP", DARK), ("seq Seq05VD", BRIGHT)):
        mats = _mats(cache, frames)
        row = rows[name]
        assert row["frames"] == len(frames)
        assert row["miou"] == pytest.approx(miou_by_hand(mats.sum(0)), abs=1e-9)
        assert row["miou_ci"] == pytest.approx(list(ci_by_hand(mats)), abs=1e-9)
    whole = miou_by_hand(cache.per_image.sum(0))
    assert doc["miou"] == pytest.approx(whole, abs=1e-9)  # the split's own score is unchanged
    assert rows["dark"]["miou"] != pytest.approx(rows["seq Seq05VD"]["miou"])


def test_a_thin_slice_says_so_instead_of_a_number(sliced):
    doc, table, _, _ = sliced
    few = next(r for r in doc["slices"] if r["slice"] == "seq 0016E5")
    assert few["frames"] == 3 and few["miou"] is None and few["miou_ci"] == [None, None]
    assert "too few" in few["note"]
    assert "seq 0016E5" in table and "too few" in table


def test_slices_are_printed_and_written_to_json_and_csv(sliced):
    doc, table, _, out = sliced
    dark = doc["slices"][0]
    assert f"{dark['miou']:.3f}" in table and "dark" in table
    written = json.loads((out / "eval" / "tiny-test.json").read_text())
    assert written["slices"] == doc["slices"]
    csv = pd.read_csv(out / "eval" / "tiny-test-slices.csv")
    assert list(csv["slice"]) == [r["slice"] for r in doc["slices"]]
    assert list(csv["frames"]) == [r["frames"] for r in doc["slices"]]
    assert csv["miou"].iloc[0] == pytest.approx(dark["miou"])
    assert np.isnan(csv.set_index("slice").loc["seq 0016E5", "miou"])


def test_unknown_slice_is_one_line_error(sliced, tmp_path):
    _, _, cache, _ = sliced
    res = runner.invoke(app, ["evaluate", cache.checkpoint, "--out", str(tmp_path), "--slice", "night"])
    assert res.exit_code == 1
    assert "--slice 'night': choose one of dark, sequence" in res.output
