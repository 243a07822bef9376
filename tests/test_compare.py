import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.classes.maps import ClassMap, preset
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.evaluation.compare.comparison import paired_bootstrap, verdict
from camseg_cli.core.evaluation.scoring.results import EvalResult
from camseg_cli.core.model.checkpoint import build_model, make_checkpoint, save_checkpoint
from tests.test_evaluate import tiny_model

runner = CliRunner()


def _result(per_image: np.ndarray, classes: ClassMap) -> EvalResult:
    return EvalResult(
        checkpoint="x.pt",
        run="x",
        split="test",
        data="d",
        classes=classes,
        image_names=[f"im{i}" for i in range(len(per_image))],
        per_image=per_image,
        ignored=np.zeros(len(per_image), dtype=np.int64),
    )


def _per_image(rng: np.random.Generator, images: int, n: int, correct: float) -> np.ndarray:
    """Per-image confusion matrices where about `correct` of each class's pixels are right."""
    mats = np.zeros((images, n, n), dtype=np.int64)
    for i in range(images):
        gt = rng.integers(50, 500, size=n)
        right = rng.binomial(gt, correct)
        mats[i][np.arange(n), np.arange(n)] = right
        wrong_to = (np.arange(n) + 1) % n
        mats[i][np.arange(n), wrong_to] = gt - right
    return mats


def _miou(mat: np.ndarray, skip: int) -> float:
    """Independent mIoU: plain numpy, classes with no pixels at all left out, `skip` (void) left out."""
    vals = []
    for c in range(mat.shape[0]):
        if c == skip:
            continue
        tp, fn, fp = mat[c, c], mat[c].sum() - mat[c, c], mat[:, c].sum() - mat[c, c]
        if tp + fn + fp:
            vals.append(tp / (tp + fn + fp))
    return float(np.mean(vals))


def test_paired_bootstrap_of_a_run_with_itself_is_zero_and_not_significant():
    classes = preset("camvid11")
    mats = _per_image(np.random.default_rng(0), 20, classes.num_classes, 0.7)
    p = paired_bootstrap(_result(mats, classes), _result(mats.copy(), classes), reps=500, seed=1)
    assert p.delta == 0 and p.ci[0] <= 0 <= p.ci[1] and p.p_value == 1.0 and p.within_noise


def test_paired_bootstrap_separates_a_clearly_better_run():
    classes = preset("camvid11")
    rng = np.random.default_rng(0)
    good, bad = _per_image(rng, 20, 12, 0.9), _per_image(rng, 20, 12, 0.5)
    p = paired_bootstrap(_result(bad, classes), _result(good, classes), reps=500, seed=1)
    expected = _miou(good.sum(0), 11) - _miou(bad.sum(0), 11)
    assert p.delta == pytest.approx(expected)
    assert 0 < p.ci[0] <= expected <= p.ci[1]
    assert p.p_value < 0.01 and not p.within_noise
    reverse = paired_bootstrap(_result(good, classes), _result(bad, classes), reps=500, seed=1)
    assert reverse.delta == pytest.approx(-expected) and reverse.ci[1] < 0


def test_paired_ci_is_narrower_than_unpaired_when_images_vary_in_difficulty():
    classes = preset("camvid11")
    rng = np.random.default_rng(3)
    difficulty = rng.uniform(0.3, 0.95, size=30)
    base = np.stack([_per_image(rng, 1, 12, d)[0] for d in difficulty])
    other = np.stack([_per_image(rng, 1, 12, min(d + 0.03, 1))[0] for d in difficulty])
    paired = paired_bootstrap(_result(base, classes), _result(other, classes), reps=400, seed=0)
    unpaired = paired_bootstrap(_result(base, classes), _result(other[rng.permutation(30)], classes), 400, 0)
    assert paired.ci[1] - paired.ci[0] < 0.5 * (unpaired.ci[1] - unpaired.ci[0])


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A synthetic dataset and two checkpoints: a baseline (aug none) and another run."""
    root = tmp_path_factory.mktemp("cmp")
    data = write_dataset(root / "data", "rgb", images=10, size=(48, 64), seed=5)
    classes = preset("camvid32")
    paths = []
    for i, aug in enumerate(("none", "flip")):
        # BatchNorm calibrated to its own activations: with the initial statistics an untrained model draws
        # one mask for every image, about which compare rightly gives no verdict (tests/test_dependence.py)
        model = tiny_model(classes.num_classes, seed=i)
        history = [{"epoch": e, "val_miou": 0.1 * e + 0.05 * i} for e in (1, 2, 3)]
        ckpt = make_checkpoint(
            model,
            arch="mobilenet_v3_large",
            classes=classes,
            image_size=(48, 64),
            aug=aug,
            run=f"m-{aug}",
            data=str(data),
            layout="rgb",
            epoch=2,  # the best epoch; 3 were trained
            history=history,
            train_seconds=12.5,
        )
        paths.append(save_checkpoint(root / f"m-{aug}.pt", ckpt))
    return root, data, paths


@pytest.mark.slow
def test_compare_writes_report_and_json(two_runs):
    root, data, paths = two_runs
    out = root / "out1"
    args = [
        "compare",
        *map(str, paths),
        "--out",
        str(out),
        "--bootstrap",
        "200",
        "--samples",
        "2",
        "--device",
        "cpu",
    ]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["split"] == "test" and doc["baseline"] == "m-none"
    runs = {r["run"]: r for r in doc["runs"]}
    assert set(runs) == {"m-none", "m-flip"}
    assert runs["m-none"]["delta_vs_baseline"] == 0
    assert runs["m-none"]["epochs"] == 3  # epochs trained, not the best epoch
    flip = runs["m-flip"]
    assert flip["delta_ci"][0] <= flip["delta_vs_baseline"] <= flip["delta_ci"][1]
    assert 0 <= flip["p_value"] <= 1
    for name in (
        "report.md",
        "results.csv",
        "per_class.csv",
        "mIoU.png",
        "per_class.png",
        "curves.png",
        "samples.png",
    ):
        assert (out / "compare" / name).stat().st_size > 100, name
    report = (out / "compare" / "report.md").read_text()
    assert "m-flip" in report and "![mIoU.png](mIoU.png)" in report
    per_class = pd.read_csv(out / "compare" / "per_class.csv")
    assert list(per_class.columns) == ["class", "m-none", "m-flip"] and "Void" not in set(per_class["class"])
    # the numbers in the report are the ones evaluate wrote for the same run
    ev = json.loads((out / "eval" / "m-flip-test.json").read_text())
    assert flip["miou"] == pytest.approx(ev["miou"])
    # differences in points everywhere in report.md (not -0.0196 beside -2.0 points)
    points = f"{100 * flip['delta_vs_baseline']:+.1f}"
    assert f"| {points} | {100 * flip['delta_ci'][0]:+.1f} to {100 * flip['delta_ci'][1]:+.1f} |" in report
    assert "Largest per-class changes" in report and "helps" not in report.split("## Largest")[1][:200]
    # the terminal names runs by what sets them apart, not by a cut common prefix
    shown = runner.invoke(app, args, terminal_width=100)
    assert shown.exit_code == 0, shown.output
    import re

    for name in ("none", "flip"):  # no seed recorded: the arm is the name; arch and run prefix dropped
        assert re.search(rf"│ \d │ {name} +│", shown.output), shown.output


@pytest.mark.slow
def test_compare_reuses_cached_evaluations_and_invalidates_changed_checkpoints(two_runs, monkeypatch):
    root, data, paths = two_runs
    out = root / "out2"
    args = [
        "compare",
        *map(str, paths),
        "--out",
        str(out),
        "--bootstrap",
        "50",
        "--samples",
        "0",
        "--device",
        "cpu",
    ]
    assert runner.invoke(app, args).exit_code == 0
    calls = []
    import camseg_cli.core.evaluation.compare.runs as cmp

    real = cmp.evaluate_checkpoint

    def counting(path, **kw):
        calls.append(Path(path).name)
        return real(path, **kw)

    monkeypatch.setattr(cmp, "evaluate_checkpoint", counting)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert calls == [] and "2 evaluation(s) reused" in result.output
    # retrain one run: same name, new weights -> only that one is evaluated again
    ckpt = torch.load(paths[1], weights_only=True)
    ckpt["model"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    save_checkpoint(paths[1], ckpt)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert calls == [paths[1].name] and "1 evaluation(s) reused" in result.output
    # touching a checkpoint changes its time, not its content: still reused
    calls.clear()
    os.utime(paths[0])
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and calls == [], result.output
    # a changed test image invalidates every run's cached evaluation
    image = sorted((data / "test").iterdir())[0]
    image.write_bytes(image.read_bytes())
    os.utime(image, ns=(1, 1))
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(calls) == sorted(p.name for p in paths) and "0 evaluation(s) reused" in result.output


def test_compare_with_itself_counts_the_checkpoint_once(two_runs):
    # issue 21: one file named twice is one run, never a run compared with itself as two arms (the
    # paired bootstrap of a run with itself is tested directly above)
    root, data, paths = two_runs
    result = runner.invoke(
        app,
        [
            "compare",
            str(paths[0]),
            str(paths[0]),
            "--out",
            str(root / "out3"),
            "--bootstrap",
            "100",
            "--samples",
            "0",
            "--device",
            "cpu",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert len(runs) == 1 and runs[0]["delta_vs_baseline"] == 0
    assert "counted once" in result.stderr


def test_compare_passes_workers_and_cache_to_every_evaluation(tiny_study, tmp_path, monkeypatch):
    """compare evaluates each checkpoint as `evaluate` does: --workers reaches the loader, --cache disk
    writes OUT/cache/, and neither changes a score."""
    from camseg_cli.core.evaluation.scoring import evaluate as scoring

    workers: list[int] = []

    class Recording(scoring.DataLoader):
        def __init__(self, *args, **kwargs):
            workers.append(kwargs["num_workers"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(scoring, "DataLoader", Recording)

    def compare(dest, *extra: str) -> tuple[Path, dict]:
        out = tiny_study.copy(dest).out
        paths = [str(out / f"{tiny_study.run(aug, 0)}.pt") for aug in ("none", "flip")]
        args = [*paths, "--out", str(out), "--bootstrap", "50", "--samples", "0", "--device", "cpu"]
        workers.clear()
        result = runner.invoke(app, ["compare", *args, *extra, "--json"])
        assert result.exit_code == 0, result.output
        return out, json.loads(result.stdout)

    out, given = compare(tmp_path / "given", "--workers", "1", "--cache", "disk")
    assert workers == [1, 1]  # one clean pass per checkpoint, each with the worker asked for
    assert any((out / "cache").iterdir())
    out, default = compare(tmp_path / "default")
    assert workers == [0, 0] and not (out / "cache").exists()  # CPU default: read in the main process
    assert [(r["run"], r["miou"]) for r in given["runs"]] == [(r["run"], r["miou"]) for r in default["runs"]]


def test_compare_refuses_mismatched_class_maps(two_runs, tmp_path):
    root, data, paths = two_runs
    classes = preset("camvid11")
    model = build_model("mobilenet_v3_large", classes.num_classes, "none")
    other = save_checkpoint(
        tmp_path / "c11.pt",
        make_checkpoint(model, arch="mobilenet_v3_large", classes=classes, image_size=(48, 64)),
    )
    result = runner.invoke(app, ["compare", str(paths[0]), str(other), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "class map" in result.output and str(other) in result.output and "Traceback" not in result.output


def test_best_run_is_none_when_every_run_ties_or_the_class_is_absent():
    from camseg_cli.core.evaluation.compare.comparison import best_run

    assert best_run(pd.Series({"a": 0.2, "b": 0.5})) == "b"
    assert best_run(pd.Series({"a": 0.0, "b": 0.0})) is None
    assert best_run(pd.Series({"a": float("nan"), "b": float("nan")})) is None


def test_p_value_and_interval_come_from_one_rule_and_never_disagree():
    """Issue 14.5: 25 of 1000 draws at or below 0 gave CI +0.97..+4.90 ("better") beside p=0.052."""
    from camseg_cli.core.evaluation.scoring.bootstrap import draw_test

    rng = np.random.default_rng(0)
    constructed = np.concatenate([rng.uniform(-0.02, 0.0, 25), rng.uniform(0.01, 0.05, 975)])
    t = draw_test(constructed)
    assert t.p_value == pytest.approx(0.05) and not t.significant and t.ci[0] <= 0 < t.ci[1]
    # one draw fewer at or below 0: now both say significant
    t = draw_test(np.concatenate([constructed[1:25], rng.uniform(0.01, 0.05, 976)]))
    assert t.p_value < 0.05 and t.significant and t.ci[0] > 0
    # over many random sets of draws (sizes, shifts, ties at 0), p < 0.05 exactly when the CI excludes 0
    for trial in range(400):
        b = int(rng.integers(20, 1500))
        d = rng.normal(rng.normal(0, 1.5), 1, b).round(int(rng.integers(0, 3)))  # rounding makes ties
        t = draw_test(d)
        excludes = t.ci[0] > 0 or t.ci[1] < 0
        assert (t.p_value < 0.05) == excludes == t.significant, (trial, b, t)


def test_no_draw_reaching_zero_prints_the_resampling_floor_not_p_0():
    from camseg_cli.core.evaluation.scoring.bootstrap import draw_test

    t = draw_test(np.linspace(0.01, 0.02, 1000))
    assert t.p_value == 0 and t.p_text() == "p < 0.002"


def test_bootstrap_0_says_no_test_was_run():
    classes = preset("camvid11")
    rng = np.random.default_rng(0)
    base, other = (
        _result(_per_image(rng, 10, 12, 0.5), classes),
        _result(_per_image(rng, 10, 12, 0.9), classes),
    )
    p = paired_bootstrap(base, other, reps=0)
    run = SimpleNamespace(name="other")
    sentence = verdict(run, SimpleNamespace(name="base"), p)
    assert sentence.startswith("not tested (--bootstrap 0)") and "nan" not in sentence


def test_a_class_predicted_but_never_labelled_counts_as_iou_0_and_is_named():
    """Issue 14.6: 10 stray pixels of a class the test labels never contain pull mIoU down; say which."""
    classes = preset("camvid11")  # 11 classes + void (11)
    mat = np.zeros((12, 12), dtype=np.int64)
    for c in range(10):  # classes 0..9 labelled; class 10 (Bicyclist) never is
        mat[c, c] = 90
        mat[c, (c + 1) % 10] = 10
    clean = _result(mat[None].copy(), classes)
    mat[3, 10] = 10  # the model says Bicyclist on 10 Road pixels
    mat[3, 3] -= 10
    stray = _result(mat[None], classes)
    iou = [90 / 110] * 10  # tp 90, fn 10, fp 10 for every labelled class...
    iou[3] = 80 / 110  # ...but Road lost 10 true positives to Bicyclist: fn 20, fp 10
    assert clean.scores.miou == pytest.approx(90 / 110) and clean.unlabelled_names() == []
    assert stray.scores.miou == pytest.approx(sum(iou + [0.0]) / 11)  # Bicyclist: IoU 0, in the mean
    assert stray.unlabelled_names() == ["Bicyclist"]
    assert stray.to_json()["predicted_never_labelled"] == ["Bicyclist"]


def test_all_zero_matrices_say_miou_is_undefined_not_bootstrap_0():
    """Issue 22.6: no labelled pixel in the split printed 'not tested (--bootstrap 0)'."""
    classes = preset("camvid11")
    zero = _result(np.zeros((5, 12, 12), dtype=np.int64), classes)
    p = paired_bootstrap(zero, _result(np.zeros((5, 12, 12), dtype=np.int64), classes), reps=200)
    sentence = verdict(SimpleNamespace(name="other"), SimpleNamespace(name="base"), p)
    assert "--bootstrap 0" not in sentence and "no labelled pixel" in sentence


def test_the_checkpoint_bootstrap_resamples_blocks_of_consecutive_frames():
    """Neighbouring frames of a drive are nearly one image: resampled together, the interval widens."""
    classes = preset("camvid11")
    rng = np.random.default_rng(0)
    base = _per_image(rng, 60, 12, 0.6)
    other = base.copy()
    gain = np.repeat(rng.normal(0, 60, size=6), 10).astype(np.int64)  # the gain drifts by drive section
    for i in range(60):
        other[i, 0, 0] += abs(gain[i])
    named = [_result(m, classes) for m in (base, other)]
    for r in named:
        r.image_names = [f"Seq01_{i:05d}" for i in range(60)]
    single = paired_bootstrap(named[0], named[1], reps=400, seed=1, block=1)
    blocks = paired_bootstrap(named[0], named[1], reps=400, seed=1, block=10)
    width = [p.ci[1] - p.ci[0] for p in (single, blocks)]
    assert width[1] > 1.5 * width[0]


def test_arm_labels_say_seed_or_seeds_and_flatten_the_settings():
    from camseg_cli.core.evaluation.reports.study import arm_label

    assert arm_label("all", 2) == "all (2 seeds)" and arm_label("none", 1) == "none (1 seed)"
    assert arm_label("all (batch_size=4)", 2) == "all, batch_size=4 (2 seeds)"


def test_the_arms_plot_holds_every_seed_and_every_difference_interval():
    from camseg_cli.core.evaluation.reports.study import plot_arms
    from camseg_cli.core.evaluation.stats.study import arm_test

    def arm(name, mious):
        return SimpleNamespace(name=name, miou_per_seed=mious, miou_mean=float(np.mean(mious)), runs=mious)

    base = arm("none", [0.50, 0.51, 0.52])
    wild = arm("flip", [0.40, 0.60, 0.52])
    test = arm_test(dict(enumerate(base.miou_per_seed)), dict(enumerate(wild.miou_per_seed)))
    assert test.ci[1] - test.ci[0] > 0.4  # far wider than the seeds' spread
    c = SimpleNamespace(arms=[SimpleNamespace(arm=base, test=None), SimpleNamespace(arm=wild, test=test)],
                        baseline_arm=base, split="test")  # fmt: skip
    ax = plot_arms(c).axes[0]
    left, right = ax.get_xlim()
    lo, hi = 0.51 + test.ci[0], 0.51 + test.ci[1]  # baseline mean plus the difference's interval
    assert left <= min(lo, 0.40) and right >= max(hi, 0.60)  # every interval and every seed on the plot
    assert right - left < 1.3 * (max(hi, 0.60) - min(lo, 0.40))  # and not stretched far beyond them
    red = [ln for ln in ax.lines if ln.get_color() == "#c44e52"]
    assert any(
        min(ln.get_xdata()) == pytest.approx(lo) and max(ln.get_xdata()) == pytest.approx(hi) for ln in red
    )


def test_min_effect_changes_the_run_against_run_words_as_it_does_for_arms():
    """One verdict rule (study.decide): a significant difference whose whole CI lies within
    +-min_effect points is 'negligible' for two checkpoints too, not 'better'."""
    from camseg_cli.core.evaluation.compare.pairs import Paired
    from camseg_cli.core.evaluation.scoring.bootstrap import draw_test
    from camseg_cli.core.evaluation.stats.study import ArmTest, decision

    draws = np.linspace(0.001, 0.003, 1000)  # +0.1 to +0.3 points, every draw above 0
    p = Paired(0.002, draw_test(draws))
    run, base = SimpleNamespace(name="other"), SimpleNamespace(name="base")
    assert verdict(run, base, p, min_effect=0.0).startswith("better than base by 0.2")
    assert verdict(run, base, p, min_effect=0.5).startswith("negligible: +0.2")
    assert verdict(run, base, p, min_effect=0.2).startswith("better")  # CI reaches past +0.2
    arm = ArmTest(0.002, p.ci, 0.001, "paired t", n=3)  # the same interval as an arm test
    assert decision(arm, None, 0.0) == "better" and decision(arm, None, 0.5) == "negligible"
