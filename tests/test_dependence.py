"""Models that ignore their input (issue 26): evaluate measures how much predictions vary between images,
flags a model that draws one mask, and compare gives no verdict about it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.evaluation.scoring.dependence import (
    FOLLOW_MIN,
    THUMB,
    Dependence,
    input_dependence,
    pair_agreement,
)
from camseg_cli.core.evaluation.scoring.result_cache import load_cache
from camseg_cli.core.model.checkpoint import make_checkpoint, save_checkpoint
from tests.conftest import write_layout
from tests.test_evaluate import SIZE, tiny_model

runner = CliRunner()
CMAP = preset("camvid11")
VOID = 11


def brute_agreement(maps: np.ndarray, valid: np.ndarray) -> float:
    """Mean over pairs of the share of pixels valid in both where the two maps agree, by loops."""
    shares = []
    for i, j in itertools.combinations(range(len(maps)), 2):
        both = valid[i] & valid[j]
        if both.sum():
            shares.append(float((maps[i][both] == maps[j][both]).mean()))
    return float(np.mean(shares))


def test_pair_agreement_equals_the_pairwise_loop():
    rng = np.random.default_rng(0)
    maps = rng.integers(0, 4, size=(7, 8, 8))
    maps[3] = maps[2]  # one identical pair
    valid = rng.random((7, 8, 8)) > 0.3
    assert pair_agreement(maps, valid, 4) == pytest.approx(brute_agreement(maps, valid), abs=1e-9)
    assert pair_agreement(maps[:1], valid[:1], 4) != pair_agreement(maps[:1], valid[:1], 4)  # NaN: one image


def test_the_flag_compares_with_the_labels_own_agreement():
    labels_vary = dict(gt_agreement=0.6, classes_per_image_pred=3.0, classes_per_image_gt=3.0, images=9)
    assert Dependence(pred_agreement=1.0, **labels_vary).flagged  # one mask for every image
    assert Dependence(pred_agreement=0.95, **labels_vary).flagged  # 0.05 / 0.4 = 0.125 < 0.25
    assert not Dependence(pred_agreement=0.65, **labels_vary).flagged  # about as varied as the labels
    # near-identical frames: labels agree 98%; a model agreeing 98.5% follows them, one at 99.9% does not
    still = dict(labels_vary, gt_agreement=0.98)
    assert not Dependence(pred_agreement=0.985, **still).flagged
    assert Dependence(pred_agreement=0.999, **still).flagged
    edge = 1 - FOLLOW_MIN * 0.4
    assert not Dependence(pred_agreement=edge - 1e-6, **labels_vary).flagged


# ------------------------------------------------------------------------------- through evaluate


def scenes(n: int, seed: int):
    """n images whose masks are coloured blocks of the image: class k where the image shows colour k."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, size=(6, 3), dtype=np.uint8)
    out = []
    for i in range(n):
        coarse = rng.integers(0, 6, size=(SIZE[0] // 16 + 1, SIZE[1] // 16 + 1))
        mask = np.kron(coarse, np.ones((16, 16), dtype=np.int64))[: SIZE[0], : SIZE[1]]
        mask[: 8 + 4 * i, :12] = VOID  # some void, differing per image
        out.append((f"0001TP_{seed:03d}{i:03d}", palette[mask % 6], mask))
    return out


def constant(model: torch.nn.Module, cls: int) -> torch.nn.Module:
    """The same network made to ignore its input: the last classifier layer's weights zeroed, so its
    logits are the bias alone, whose largest entry is `cls`."""
    last = model.classifier[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.arange(last.bias.numel()) == cls)
    return model


def checkpoint(path: Path, data: Path, model: torch.nn.Module, run: str) -> Path:
    ckpt = make_checkpoint(model, arch="mobilenet_v3_large", classes=CMAP, image_size=SIZE, run=run,
                           data=str(data), layout="index", aug="none", epoch=1, history=[])  # fmt: skip
    ckpt["versions"] = {k: str(v) for k, v in ckpt["versions"].items()}
    return save_checkpoint(path, ckpt)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("dep")
    test = scenes(6, 1)
    data = write_layout(root / "data", "index", {"val": scenes(2, 0), "test": test}, CMAP)
    runs = {
        "sees": checkpoint(root / "sees.pt", data, tiny_model(CMAP.num_classes), "sees"),
        "blind": checkpoint(root / "blind.pt", data, constant(tiny_model(CMAP.num_classes), 3), "blind"),
    }
    return {"data": data, "test": test, "root": root, **runs}


def label_figures(test) -> tuple[float, float]:
    """Ground truth's own agreement between images (on 32x32 nearest thumbnails read back from the
    written PNGs with PIL) and its classes per image, computed here without camseg."""
    annot = [np.asarray(Image.open(p)) for p in sorted((Path(test) / "testannot").glob("*.png"))]
    thumbs = np.stack([np.asarray(Image.fromarray(a).resize((THUMB, THUMB), Image.NEAREST)) for a in annot])
    agreement = brute_agreement(thumbs, thumbs != VOID)
    classes = np.mean([len(set(np.unique(a)) - {VOID}) for a in annot])
    return agreement, float(classes)


def evaluate_json(ckpt: Path, out: Path) -> tuple[dict, str]:
    res = runner.invoke(app, ["evaluate", str(ckpt), "--bootstrap", "0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return json.loads((out / "eval" / f"{ckpt.stem}-test.json").read_text()), res.output


def test_evaluate_flags_a_model_made_constant_and_not_one_that_follows_its_input(study, tmp_path):
    gt_agreement, gt_classes = label_figures(study["data"])
    blind, said = evaluate_json(study["blind"], tmp_path)
    dep = blind["input_dependence"]
    assert dep["pred_agreement"] == 1.0 and dep["classes_per_image_pred"] == 1.0
    assert dep["gt_agreement"] == pytest.approx(gt_agreement, abs=1e-9)
    assert dep["classes_per_image_gt"] == pytest.approx(gt_classes)
    assert dep["flagged"] is True
    warnings = [ln for ln in said.splitlines() if "ignores its input" in ln]
    assert len(warnings) == 1 and "run blind" in warnings[0]

    sees, said = evaluate_json(study["sees"], tmp_path)
    dep = sees["input_dependence"]
    assert dep["flagged"] is False and "ignores its input" not in said
    assert dep["gt_agreement"] == pytest.approx(gt_agreement, abs=1e-9)
    assert dep["pred_agreement"] < 1 - FOLLOW_MIN * (1 - gt_agreement)
    assert dep["classes_per_image_pred"] > 1


def test_the_cache_keeps_the_thumbnails_and_an_old_cache_is_evaluated_again(study, tmp_path):
    evaluate_json(study["blind"], tmp_path)
    npz = tmp_path / "eval" / "blind-test.npz"
    cached = load_cache(npz)
    assert cached.pred_thumbs.shape == (6, THUMB, THUMB) and (cached.pred_thumbs == 3).all()
    again = input_dependence(cached.pred_thumbs, cached.label_thumbs, cached.per_image, VOID)
    assert again.flagged and again.gt_agreement == pytest.approx(label_figures(study["data"])[0])
    # a cache written before the thumbnails (version 3) is not read as one without them: compare
    # evaluates the checkpoint again instead of crashing or skipping the check
    with np.load(npz) as z:
        arrays = {k: z[k] for k in ("per_image", "ignored", "image_names")}
        meta = json.loads(str(z["meta"])) | {"cache_version": 3}
    np.savez_compressed(npz, meta=np.asarray(json.dumps(meta)), **arrays)
    res = runner.invoke(app, ["compare", str(study["blind"]), str(study["sees"]), "--bootstrap", "50",
                              "--samples", "0", "--out", str(tmp_path), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert load_cache(npz).pred_thumbs is not None


def test_compare_gives_no_verdict_about_a_run_that_ignores_its_input(study, tmp_path):
    args = [str(study["sees"]), str(study["blind"]), "--baseline", "sees", "--bootstrap", "100"]
    res = runner.invoke(app, ["compare", *args, "--samples", "0", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert len(doc["ignores_input"]) == 1 and "run blind" in doc["ignores_input"][0]
    blind = next(r for r in doc["runs"] if r["run"] == "blind")
    assert blind["verdict"] == "no verdict: run blind ignores its input"
    assert blind["p_value"] is None and blind["delta_ci"] == [None, None]
    tested = [a for a in doc["arms"] if a["delta_vs_baseline"] is not None]
    assert tested and all(a["p_value"] is None and a["verdict"].startswith("no verdict") for a in tested)
    res = runner.invoke(app, ["compare", *args, "--samples", "0", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert sum("ignores its input" in ln and "warning" in ln for ln in res.output.splitlines()) == 1
