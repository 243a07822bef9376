"""One judgement for every cell (issue 29): a run that ignores its input gets no verdict in any cell
(clean arms, corruption families, the suite, slices, dataset conditions), and --min-effect changes the
words of robustness cells as it does the clean arms'."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.evaluation.compare.arms import Arm
from camseg_cli.core.evaluation.compare.conditions import condition_tests
from camseg_cli.core.evaluation.compare.shift import build_columns, robust_compare
from camseg_cli.core.evaluation.compare.verdicts import judge_arms
from camseg_cli.core.evaluation.scoring.dependence import Dependence
from camseg_cli.core.evaluation.scoring.results import EvalResult
from camseg_cli.core.evaluation.scoring.robustness import Robustness
from camseg_cli.core.evaluation.stats.study import arm_test

CLASSES = preset("camvid11")
NAMES = [f"0001TP_{i:06d}" for i in range(12)]
BLIND = Dependence(1.0, 0.6, 1.0, 5.0, 12)  # one mask for every image: flagged
SEES = Dependence(0.6, 0.6, 5.0, 5.0, 12)


def _result(per_image: np.ndarray, conditions: list[str] | None = None) -> EvalResult:
    r = EvalResult("c.pt", "r", "test", "d", CLASSES, list(NAMES), per_image, np.zeros(len(NAMES), np.int64))
    r.conditions = conditions
    return r


def _mats(rng, quality: float | np.ndarray) -> np.ndarray:
    """Per-image matrices of a model right on `quality` of each class's pixels (rest to the next class)."""
    n = CLASSES.num_classes
    q = np.broadcast_to(np.asarray(quality, dtype=np.float64), (len(NAMES),))
    out = np.zeros((len(NAMES), n, n), dtype=np.int64)
    for i in range(len(NAMES)):
        qi = float(np.clip(q[i] + rng.normal(0, 0.01), 0, 1))
        for c in range(n - 1):  # the last index is void
            out[i, c, c] = round(qi * 1000)
            out[i, c, (c + 1) % (n - 1)] = 1000 - out[i, c, c]
    return out


def _study(blind: str | None = None):
    """none vs lowlight, 5 seeds: lowlight 6 points worse clean, 10 better under camera corruptions, the
    same under digital ones; `blind` names a run flagged as ignoring its input."""
    rng = np.random.default_rng(0)
    effects = {
        "none": {"clean": 0, "camera": 0, "digital": 0},
        "lowlight": {"clean": -6, "camera": 10, "digital": 0},
    }
    arms, robs = [], {}
    for aug, fx in effects.items():
        runs = []
        for seed in range(5):
            noise = rng.normal(0, 0.005)
            q = {k: 0.6 + v / 100 * 1.6 + noise for k, v in fx.items()}
            passes = {
                ("low_light", 3): _result(_mats(rng, q["camera"])),
                ("jpeg", 3): _result(_mats(rng, q["digital"])),
            }
            name = f"{aug}-{seed}"
            clean = _result(_mats(rng, q["clean"]))
            clean.dependence = BLIND if name == blind else SEES
            robs[name] = Robustness(clean, passes, 0)
            runs.append(SimpleNamespace(name=name, seed=seed, result=clean))
        arms.append(Arm(aug, aug, {"aug": aug}, runs))
    return arms, robs


def _table(blind: str | None = None, min_effect: float = 0.5):
    arms, robs = _study(blind)
    lum = dict.fromkeys(NAMES, 10.0)  # every frame dark: a dark slice and a sequence slice of 12 frames
    columns, notes = build_columns(("low_light", "jpeg"), (3,), ("dark", "sequence"), lum, NAMES)
    return robust_compare(arms, arms[0], robs, columns, notes, min_effect=min_effect)


COLUMNS = {"clean": "clean", "camera": "family", "digital": "family", "suite": "suite", "dark": "slice",
           "seq 0001TP": "slice"}  # fmt: skip


def test_the_planted_effects_are_found_when_no_run_is_flagged():
    rc = _table()
    assert {c.name: c.kind for c in rc.columns} == COLUMNS
    words = {c: rc.cells[("lowlight", c)].word for c in COLUMNS}
    assert words["clean"] == words["dark"] == words["seq 0001TP"] == "hurts" and words["camera"] == "helps"
    assert rc.tests == len(COLUMNS)


def test_a_flagged_run_gets_no_verdict_in_any_robustness_cell():
    rc = _table(blind="lowlight-2")
    for col, kind in COLUMNS.items():
        cell = rc.cells[("lowlight", col)]
        doc = cell.to_json()
        assert cell.word == "not tested", (col, kind)
        assert doc["p_value"] is None and doc["p_holm"] is None, (col, kind)
        assert doc["delta_ci"] == [None, None] or all(math.isnan(x) for x in doc["delta_ci"])
        assert "lowlight-2 ignores its input" in doc["reason"], (col, kind)
        assert math.isfinite(doc["delta"])  # the difference is still shown, only the verdict withheld
    assert rc.tests == 0  # no test of a blind run enters Holm's family


def test_a_flagged_baseline_run_withholds_every_cell_too():
    rc = _table(blind="none-0")
    assert all(rc.cells[("lowlight", c)].word == "not tested" for c in COLUMNS)


def _seeded_arms(rng_seed: int, gains, blind: str | None, conds: list[str] | None = None) -> list[Arm]:
    """One arm per (aug, gain), 5 seeds each, every run scoring 0.6 + gain (a number, or one per image)
    plus seed noise; `blind` names a run flagged as ignoring its input."""
    rng = np.random.default_rng(rng_seed)
    arms = []
    for aug, gain in gains:
        runs = []
        for seed in range(5):
            r = _result(_mats(rng, 0.6 + gain + rng.normal(0, 0.005)), conds)
            name = f"{aug}-{seed}"
            r.dependence = BLIND if name == blind else SEES
            runs.append(SimpleNamespace(name=name, seed=seed, result=r))
        arms.append(Arm(aug, aug, {"aug": aug}, runs))
    return arms


def _condition_arms(blind: str | None):
    """Two arms, 5 seeds, ACDC-like conditions: the arm 10 points better on the night frames only (10
    frames, enough for a verdict; fog's 2 are too few: cells.MIN_FRAMES)."""
    conds = ["night"] * 10 + ["fog"] * 2
    night = np.array([c == "night" for c in conds])
    return _seeded_arms(1, (("none", 0.0 * night), ("jitter", 0.16 * night)), blind, conds)


def test_a_flagged_run_gets_no_verdict_in_any_condition_row():
    arms = _condition_arms(None)
    rows = {r["condition"]: r for r in condition_tests(arms, arms[0])}
    assert rows["night"]["p_holm"] is not None and rows["night"]["p_holm"] < 0.05  # found when it can see
    arms = _condition_arms("jitter-4")
    for row in condition_tests(arms, arms[0]):
        assert row["p_holm"] is None and not math.isfinite(row["p_value"]), row
        assert "jitter-4 ignores its input" in row["reason"]


def _clean_arms(blind: str | None):
    """none, crop (clearly better) and flip (also clearly better), 5 seeds each, clean scores only."""
    return _seeded_arms(2, (("none", 0.0), ("crop", 0.1), ("flip", 0.1)), blind)


def test_a_flagged_run_gets_no_clean_verdict_and_leaves_holms_family():
    arms = _clean_arms("flip-1")
    res = {r.arm.name: r for r in judge_arms(arms, arms[0])}
    assert res["flip"].verdict.startswith("no verdict") and "flip-1 ignores its input" in res["flip"].verdict
    assert res["flip"].p_holm is None and not res["flip"].test.tested
    # crop is alone in the family: its Holm p is its own p, not doubled for the blind arm's test
    assert res["crop"].p_holm == pytest.approx(res["crop"].test.p_value)
    assert res["crop"].verdict.startswith("better than none")


@pytest.mark.parametrize("min_effect", [0.5, 30.0])
def test_min_effect_changes_robustness_words_as_it_does_clean_arms(min_effect):
    """A 30-point --min-effect holds every interval of the study: every cell and the clean arm say
    'negligible'; at 0.5 points none does."""
    rc = _table(min_effect=min_effect)
    arms, _ = _study()
    clean = {r.arm.name: r for r in judge_arms(arms, arms[0], min_effect=min_effect)}["lowlight"]
    words = {c: rc.cells[("lowlight", c)].word for c in COLUMNS}
    base, arm = ({r.seed: r.result.scores.miou for r in a.runs} for a in arms)
    t = arm_test(base, arm)
    assert rc.cells[("lowlight", "clean")].test.ci == pytest.approx(t.ci)  # the same test as the arm's
    if min_effect > 10:
        assert set(words.values()) == {"negligible"} and clean.verdict.startswith("negligible")
    else:
        assert words["clean"] == words["dark"] == "hurts" and words["camera"] == words["suite"] == "helps"
        assert clean.verdict.startswith("worse than none")
        lo, hi = rc.cells[("lowlight", "digital")].test.ci  # no planted effect: negligible iff held by ±0.5
        assert words["digital"] == ("negligible" if -0.005 <= lo and hi <= 0.005 else "within noise")
