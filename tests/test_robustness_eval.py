"""evaluate --corrupt and compare --corrupt / --slice (scoring/robustness.py, compare/shift.py)."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.compare.arms import Arm
from camseg_cli.core.evaluation.compare.shift import build_columns, robust_compare
from camseg_cli.core.evaluation.scoring.result_cache import load_cache
from camseg_cli.core.evaluation.scoring.results import EvalResult
from camseg_cli.core.evaluation.scoring.robustness import Robustness
from camseg_cli.core.evaluation.scoring.slices import check_slices
from camseg_cli.core.model.checkpoint import build_model, make_checkpoint, save_checkpoint

runner = CliRunner()
CLASSES = preset("camvid11")
SIZE = (32, 48)


def miou_by_hand(mats: np.ndarray) -> float:
    """mIoU of summed matrices: void row and column dropped, classes never labelled nor predicted left out."""
    m = mats.sum(0).astype(np.float64)
    keep = [i for i in range(len(m)) if i != CLASSES.void]
    m = m[np.ix_(keep, keep)]
    inter = np.diag(m)
    union = m.sum(0) + m.sum(1) - inter
    return float(np.mean(inter[union > 0] / union[union > 0]))


def holm_by_hand(p: list[float]) -> list[float]:
    order = sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A tiny dataset and two arms (none, lowlight) x 2 seeds of untrained MobileNetV3 checkpoints."""
    root = tmp_path_factory.mktemp("rob")
    data = write_dataset(root / "data", "index", images=10, size=SIZE, seed=5, classes="camvid11")
    paths = {}
    for aug in ("none", "lowlight"):
        for seed in (0, 1):
            torch.manual_seed(seed + 7 * (aug == "none"))
            model = build_model("mobilenet_v3_large", CLASSES.num_classes, "none")
            ckpt = make_checkpoint(
                model,
                arch="mobilenet_v3_large",
                classes=CLASSES,
                image_size=SIZE,
                aug=aug,
                seed=seed,
                run=f"m-{aug}-s{seed}",
                data=str(data),
                layout="index",
                epoch=1,
                history=[{"epoch": 1, "val_miou": 0.1}],
            )
            paths[(aug, seed)] = save_checkpoint(root / f"m-{aug}-s{seed}.pt", ckpt)
    return root, data, paths


def test_evaluate_corrupt_scores_each_pass_and_reuses_the_cache(study, monkeypatch):
    root, data, paths = study
    out = root / "eval-out"
    args = [
        "evaluate",
        str(paths[("lowlight", 0)]),
        "--corrupt",
        "low_light,lens_distortion",
        "--severity",
        "1-2",
    ]
    args += ["--reference", str(paths[("none", 0)]), "--out", str(out), "--bootstrap", "0", "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "mean corrupted mIoU" in result.output and "mCD" in result.output
    rep = json.loads((out / "eval" / "m-lowlight-s0-test-robustness.json").read_text())
    assert rep["severities"] == [1, 2] and [r["corruption"] for r in rep["corruptions"]] == [
        "low_light",
        "lens_distortion",
    ]
    clean = load_cache(out / "eval" / "m-lowlight-s0-test.npz")
    assert rep["clean_miou"] == pytest.approx(miou_by_hand(clean.per_image))
    corrupt = out / "eval" / "corrupt"
    for row in rep["corruptions"]:
        name = row["corruption"]
        passes = [load_cache(corrupt / f"m-lowlight-s0-test-{name}-s{s}-seed0.npz") for s in (1, 2)]
        ref_passes = [load_cache(corrupt / f"m-none-s0-test-{name}-s{s}-seed0.npz") for s in (1, 2)]
        by_hand = [miou_by_hand(p.per_image) for p in passes]
        assert [row["miou"]["1"], row["miou"]["2"]] == pytest.approx(by_hand)
        assert row["mean"] == pytest.approx(np.mean(by_hand))
        assert row["relative"] == pytest.approx(np.mean(by_hand) / rep["clean_miou"])
        ref = [miou_by_hand(p.per_image) for p in ref_passes]
        assert row["cd"] == pytest.approx(sum(1 - m for m in by_hand) / sum(1 - m for m in ref))
        if name == "lens_distortion":  # the geometric pass warped the masks: void corners, not scored
            assert passes[1].ignored.sum() > clean.ignored.sum()
            assert passes[1].stamp["corrupt"] == {"name": name, "severity": 2, "seed": 0}
        else:  # photometric: the very same labelled pixels as the clean pass
            assert (passes[1].per_image.sum(axis=(1, 2)) == clean.per_image.sum(axis=(1, 2))).all()
    assert rep["mean_corrupted_miou"] == pytest.approx(np.mean([r["mean"] for r in rep["corruptions"]]))
    frame = pd.read_csv(out / "eval" / "m-lowlight-s0-test-robustness.csv")
    assert len(frame) == 4 and (out / "eval" / "m-lowlight-s0-test-robustness.png").stat().st_size > 1000

    import camseg_cli.core.evaluation.scoring.robustness as rob

    calls = []
    real = rob.evaluate_passes
    monkeypatch.setattr(
        rob, "evaluate_passes", lambda *a, **k: calls.append(k["corruptors"]) or real(*a, **k)
    )
    again = runner.invoke(app, [*args, "--corrupt-seed", "0"])
    assert again.exit_code == 0 and calls == [], "every pass was cached, keyed by corruption, severity, seed"
    other_seed = runner.invoke(
        app, [*args[:-6], "--out", str(out), "--bootstrap", "0", "--corrupt-seed", "1"]
    )
    assert other_seed.exit_code == 0 and len(calls[0]) == 4  # a new seed: four new passes


def test_evaluate_refuses_a_bad_spec_before_any_work(study):
    root, _, paths = study
    bad = runner.invoke(
        app, ["evaluate", str(paths[("none", 0)]), "--corrupt", "hail", "--out", str(root / "x")]
    )
    assert bad.exit_code == 1 and "unknown corruption 'hail'" in bad.output
    bad = runner.invoke(app, ["evaluate", str(paths[("none", 0)]), "--reference", str(paths[("none", 1)])])
    assert bad.exit_code == 1 and "--reference needs --corrupt" in bad.output


def test_compare_corrupt_table_holm_and_trained_mark(study):
    root, _, paths = study
    out = root / "cmp-out"
    args = ["compare", *(str(p) for p in paths.values()), "--corrupt", "low_light,jpeg", "--severity", "3"]
    args += ["--out", str(out), "--bootstrap", "200", "--samples", "0", "--device", "cpu", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rob = json.loads(result.output)["robustness"]
    assert [c["name"] for c in rob["columns"]] == ["clean", "digital", "camera", "suite"]
    cells = {(c["arm"], c["column"]): c for c in rob["cells"]}
    assert set(cells) == {
        (a, c) for a in ("none", "lowlight") for c in ("clean", "digital", "camera", "suite")
    }
    fields = {"mean", "sd", "per_seed", "delta", "delta_points", "delta_ci", "p_value", "p_holm", "verdict"}
    assert all(fields | {"trained_on_family", "seeds"} <= set(c) for c in cells.values())
    # lowlight trained on the camera family (low light is a camera corruption); jpeg is digital
    assert [k for k, c in cells.items() if c["trained_on_family"]] == [("lowlight", "camera")]
    # two seeds a side: the arm test gives no verdict (it needs 3), so nothing enters Holm, and each says why
    assert rob["holm_tests"] == 0 and all(c["p_holm"] is None for c in cells.values())
    assert all(c["reason"] for a, c in cells.items() if a[0] == "lowlight")
    # a cell's per-seed score is the pooled mIoU of its frames, from the cached passes
    for seed in (0, 1):
        jpeg = load_cache(out / "eval" / "corrupt" / f"m-lowlight-s{seed}-test-jpeg-s3-seed0.npz")
        assert cells[("lowlight", "digital")]["per_seed"][str(seed)] == pytest.approx(
            miou_by_hand(jpeg.per_image)
        )
    base = cells[("none", "camera")]["per_seed"]
    arm = cells[("lowlight", "camera")]["per_seed"]
    assert cells[("lowlight", "camera")]["delta"] == pytest.approx(
        np.mean([arm[s] - base[s] for s in ("0", "1")])
    )
    report = (out / "compare" / "report.md").read_text()
    assert "## Under shift" in report and "| lowlight |" in report and "†" in report
    assert (out / "compare" / "robustness.png").stat().st_size > 1000
    table = runner.invoke(
        app, [*(a for a in args if a != "--json"), "--slice", "dark,sequence"]
    )  # cached now
    assert table.exit_code == 0 and "under shift" in table.output and "camera" in table.output
    assert "too few to say anything" in table.output  # 2 test frames: no slice is tested, each says why


def _result(per_image: np.ndarray, names: list[str]) -> EvalResult:
    return EvalResult("c.pt", "r", "test", "d", CLASSES, names, per_image, np.zeros(len(names), np.int64))


def _mats(rng, images: int, quality: float) -> np.ndarray:
    """Per-image matrices of a model right on `quality` of each class's pixels (rest to the next class)."""
    n = CLASSES.num_classes
    out = np.zeros((images, n, n), dtype=np.int64)
    for i in range(images):
        q = float(np.clip(quality + rng.normal(0, 0.01), 0, 1))
        for c in range(n - 1):  # the last index is void
            pixels = 1000
            out[i, c, c] = round(q * pixels)
            out[i, c, (c + 1) % (n - 1)] = pixels - out[i, c, c]
    return out


def test_planted_effects_give_helps_hurts_and_within_noise():
    """lowlight arm: 10 points better under camera, 6 worse clean, no change under digital; 5 seeds."""
    rng = np.random.default_rng(0)
    names = [f"0001TP_{i:06d}" for i in range(12)]
    effects = {
        "none": {"clean": 0, "camera": 0, "digital": 0},
        "lowlight": {"clean": -6, "camera": 10, "digital": 0},
    }
    arms, robs = [], {}
    for aug, fx in effects.items():
        runs = []
        for seed in range(5):
            s_noise = rng.normal(0, 0.005)
            q = {k: 0.6 + v / 100 * 1.6 + s_noise for k, v in fx.items()}  # mIoU moves ~ as quality
            passes = {
                ("low_light", 3): _result(_mats(rng, 12, q["camera"]), names),
                ("jpeg", 3): _result(_mats(rng, 12, q["digital"]), names),
            }
            name = f"{aug}-{seed}"
            robs[name] = Robustness(_result(_mats(rng, 12, q["clean"]), names), passes, 0)
            runs.append(SimpleNamespace(name=name, seed=seed, result=robs[name].clean))
        arms.append(Arm(aug, aug, {"aug": aug}, runs))
    columns, notes = build_columns(("low_light", "jpeg"), (3,), (), {}, names)
    rc = robust_compare(arms, arms[0], robs, columns, notes, min_effect=0.0)  # no "negligible"
    words = {c: rc.cells[("lowlight", c)].word for c in ("clean", "digital", "camera")}
    assert words == {"clean": "hurts", "digital": "within noise", "camera": "helps"}
    assert rc.cells[("lowlight", "camera")].trained and not rc.cells[("lowlight", "digital")].trained
    assert rc.tests == 4  # clean, digital, camera, suite: one Holm family
    tested = [rc.cells[("lowlight", c)] for c in ("clean", "digital", "camera", "suite")]
    assert [c.p_holm for c in tested] == pytest.approx(holm_by_hand([c.test.p_value for c in tested]))


def test_slices_dark_and_sequence_with_a_note_for_thin_slices():
    names = [f"0001TP_{i:06d}" for i in range(12)] + [f"Seq05VD_f{i:05d}" for i in range(3)]
    lum = {n: (20.0 if i < 11 else 90.0) for i, n in enumerate(names)}
    cols, notes = build_columns((), (), ("dark", "sequence"), lum, names)
    by_name = {c.name: c for c in cols}
    assert list(by_name) == ["clean", "dark", "seq 0001TP"]
    assert by_name["dark"].images.tolist() == list(range(11))
    assert by_name["seq 0001TP"].images.tolist() == list(range(12))
    assert len(notes) == 1 and "seq Seq05VD: 3 test frame(s)" in notes[0] and "too few" in notes[0]
    assert check_slices("dark, sequence") == ("dark", "sequence")
    with pytest.raises(CamsegError, match="--slice 'night': choose one of dark, sequence"):
        check_slices("night")
