"""Evaluation across datasets (issue 24): a synthetic Cityscapes-layout study judged on a synthetic
ACDC-layout folder per condition, and a Cityscapes checkpoint scored on CamVid-11 via --class-map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.sources.layouts import open_dataset
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.data.sources.synthetic_cityscapes import write_cityscapes_family

runner = CliRunner()
TINY = ["--arch", "mobilenet_v3_large", "--weights", "none", "--size", "32x48", "--epochs", "1",
        "--batch-size", "2", "--workers", "0", "--device", "cpu", "--quiet"]  # fmt: skip
CONDITIONS = ("fog", "night", "rain", "snow")
# CamVid-11 -> Cityscapes-19 as the shipped map says, written out again here by name.
CAMVID_TO_CS = {"Sky": "sky", "Building": "building", "Pole": "pole", "Road": "road", "Pavement": "sidewalk",
                "Tree": "vegetation", "SignSymbol": "traffic sign", "Fence": "fence", "Car": "car",
                "Pedestrian": "person", "Bicyclist": "rider"}  # fmt: skip


def _ok(*args) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("xd")
    cs = write_cityscapes_family(base / "cityscapes", "cityscapes", images=8, size=(48, 96), seed=3)
    acdc = write_cityscapes_family(base / "acdc", "acdc", images=10, size=(48, 96), seed=4)
    out = base / "out"
    for aug in ("none", "jitter"):
        for seed in (0, 1):
            _ok(
                "train",
                "--data",
                cs,
                "--out",
                out,
                "--aug",
                aug,
                "--seed",
                seed,
                "--run",
                f"{aug}-s{seed}",
                *TINY,
            )
    return {"cs": cs, "acdc": acdc, "out": out, "ckpts": sorted(out.glob("*.pt"))}


def _evaluate(ckpt: Path, data: Path, out: Path, *extra) -> dict:
    args = ["evaluate", ckpt, "--data", data, "--split", "val", "--out", out, "--bootstrap", "0", "--json"]
    return json.loads(_ok(*args, *extra))


@pytest.mark.slow
def test_cityscapes_test_split_says_to_use_val(study):
    result = runner.invoke(app, ["evaluate", str(study["ckpts"][0]), "--out", str(study["out"])])
    assert result.exit_code == 1
    assert "has no labels" in result.output and "--split val" in result.output


@pytest.mark.slow
def test_a_cityscapes_checkpoint_is_scored_on_acdc_per_condition(study, tmp_path):
    ckpt = study["out"] / "none-s0.pt"
    every = _evaluate(ckpt, study["acdc"], tmp_path / "all")
    assert sorted(every["conditions"]) == list(CONDITIONS)
    assert all(c["images"] == 2 for c in every["conditions"].values()) and every["images"] == 8
    for cond in ("night", "fog"):  # the condition's images evaluated alone give the same mIoU
        alone = _evaluate(ckpt, study["acdc"], tmp_path / cond, "--condition", cond)
        assert alone["images"] == 2 and list(alone["conditions"]) == [cond]
        assert alone["miou"] == pytest.approx(every["conditions"][cond]["miou"], abs=1e-12)


@pytest.mark.slow
def test_compare_on_acdc_runs_the_arm_test_per_condition(study, tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", *study["ckpts"], "--data", study["acdc"], "--split", "val", "--out", out]
    got = json.loads(_ok(*args, "--bootstrap", "200", "--samples", "0", "--json"))
    rows = {r["condition"]: r for r in got["conditions"]}
    assert sorted(rows) == list(CONDITIONS) and all(r["arm"] != got["baseline_arm"] for r in rows.values())
    for cond in ("night",):  # one condition by hand (each costs four evaluations)
        per_seed = {
            name: _evaluate(
                study["out"] / f"{name}.pt", study["acdc"], tmp_path / name / cond, "--condition", cond
            )["miou"]
            for name in ("none-s0", "none-s1", "jitter-s0", "jitter-s1")
        }
        delta = np.mean([per_seed[f"jitter-s{s}"] - per_seed[f"none-s{s}"] for s in (0, 1)])
        assert rows[cond]["delta"] == pytest.approx(delta, abs=1e-9)
        arm_mean = np.mean([per_seed[f"jitter-s{s}"] for s in (0, 1)])
        assert rows[cond]["miou_arm"] == pytest.approx(arm_mean, abs=1e-9)
        assert rows[cond]["images"] == 2 and rows[cond]["paired"]
        assert rows[cond]["p_holm"] is None or rows[cond]["p_holm"] >= rows[cond]["p_value"]
    shown = _ok(*args, "--bootstrap", "200", "--samples", "0")
    assert "arms per condition" in shown and "night" in shown


@pytest.mark.slow
def test_class_map_camvid11_to_cityscapes19_miou_by_hand(study, tmp_path):
    camvid = write_dataset(tmp_path / "camvid", "index", images=6, size=(48, 96), seed=5, classes="camvid11")
    ckpt = study["out"] / "none-s0.pt"
    mismatch = runner.invoke(app, ["evaluate", str(ckpt), "--data", str(camvid), "--out", str(tmp_path)])
    assert mismatch.exit_code == 1 and "--class-map" in mismatch.output
    got = json.loads(_ok("evaluate", ckpt, "--data", camvid, "--out", tmp_path / "e", "--bootstrap", "0",
                         "--class-map", "camvid11_to_cityscapes19", "--json"))  # fmt: skip
    info = open_dataset(camvid)
    refs = info.samples("test")
    _ok("predict", ckpt, *[r.image for r in refs], "--out", tmp_path / "pred", "--save", "index", "--quiet")
    cs_names = list(got["per_class"])  # the 19 classes, in order
    cam = info.classes.names
    lut = np.array([cs_names.index(CAMVID_TO_CS[n]) if n in CAMVID_TO_CS else 19 for n in cam])
    conf = np.zeros((20, 20), np.int64)
    for r in refs:
        gt = lut[np.asarray(Image.open(r.mask)).astype(np.int64)]
        pred = np.asarray(Image.open(tmp_path / "pred" / f"{r.image.stem}_index.png")).astype(np.int64)
        keep = gt != 19
        np.add.at(conf, (gt[keep], pred[keep]), 1)
    ious = []
    for c in range(19):
        tp, union = conf[c, c], conf[c, :].sum() + conf[:, c].sum() - conf[c, c]
        if union:
            ious.append(tp / union)
    assert got["miou"] == pytest.approx(float(np.mean(ious)), abs=1e-9)
    assert got["per_class"]["sidewalk"]["pixels"] == int(conf[1].sum())

    # compare takes the same map; the evaluation above is reused only through the same map
    args = ["compare", ckpt, study["out"] / "jitter-s0.pt", "--data", camvid, "--out", tmp_path / "e"]
    plain = runner.invoke(app, [str(a) for a in args])
    assert plain.exit_code == 1 and "--class-map" in plain.output
    mapped = ["--class-map", "camvid11_to_cityscapes19", "--bootstrap", "0", "--samples", "0", "--json"]
    cmp = json.loads(_ok(*args, *mapped))
    assert next(r["miou"] for r in cmp["runs"] if r["run"] == "none-s0") == pytest.approx(
        got["miou"], abs=1e-12
    )


@pytest.mark.slow
def test_train_on_acdc_conditions_and_evaluate_follows(study, tmp_path):
    out = tmp_path / "out"
    _ok("train", "--data", study["acdc"], "--condition", "night", "--out", out, "--run", "night", *TINY)
    assert json.loads((out / "runs" / "night" / "config.json").read_text())["conditions"] == "night"
    got = json.loads(
        _ok("evaluate", out / "night.pt", "--split", "val", "--out", out, "--bootstrap", "0", "--json")
    )
    assert list(got["conditions"]) == ["night"] and got["images"] == 2
    wrong = runner.invoke(
        app, ["train", "--data", str(study["cs"]), "--condition", "night", "--out", str(out), *TINY]
    )
    assert wrong.exit_code == 1 and "acdc layout only" in wrong.output
