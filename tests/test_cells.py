"""One table of cells (issue 29): every (arm, measure) of a study — clean, dataset conditions, corruption
families, the suite, slices, any new measure — judged by one function, in one Holm family, under one
withholding rule (a run that ignores its input, too few shared seeds, too few frames), with one verdict
word honouring --min-effect. Every p and Holm p is checked against scipy's paired t and Holm by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats as sps

from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.evaluation.compare import measures
from camseg_cli.core.evaluation.compare.arms import Arm
from camseg_cli.core.evaluation.compare.cells import Measure, judge_table
from camseg_cli.core.evaluation.compare.conditions import condition_tests
from camseg_cli.core.evaluation.compare.shift import build_columns, judge_under_shift
from camseg_cli.core.evaluation.compare.verdicts import judge_arms
from camseg_cli.core.evaluation.scoring.dependence import Dependence
from camseg_cli.core.evaluation.scoring.results import EvalResult
from camseg_cli.core.evaluation.scoring.robustness import Robustness
from tests.conftest import scaled

CLASSES = preset("camvid11")
N = 24
NAMES = [f"0001TP_{i:06d}" for i in range(N)]
CONDS = ["night"] * 12 + ["rain"] * 10 + ["fog"] * 2  # fog: 2 frames, under the 10 a verdict needs
MASKS = {c: np.array([x == c for x in CONDS]) for c in ("fog", "night", "rain")}
DARK = np.arange(N) < 16  # the dark slice: the first 16 frames
BLIND = Dependence(1.0, 0.6, 1.0, 5.0, N)  # one mask for every image: flagged
SEES = Dependence(0.6, 0.6, 5.0, 5.0, N)
CORRUPTIONS = (("low_light", 3), ("jpeg", 3))  # the camera and the digital family


def _result(per_image: np.ndarray) -> EvalResult:
    r = EvalResult("c.pt", "r", "test", "d", CLASSES, list(NAMES), per_image, np.zeros(N, np.int64))
    r.conditions = list(CONDS)
    return r


def _mats(rng, quality: np.ndarray) -> np.ndarray:
    """Per-image matrices of a model right on `quality` of each class's pixels (rest to the next class)."""
    n = CLASSES.num_classes
    out = np.zeros((N, n, n), dtype=np.int64)
    for i in range(N):
        qi = float(np.clip(quality[i] + rng.normal(0, 0.01), 0, 1))
        for c in range(n - 1):  # the last index is void
            out[i, c, c] = round(qi * 1000)
            out[i, c, (c + 1) % (n - 1)] = 1000 - out[i, c, c]
    return out


# jitter: 10 quality points better at night (clean frames) and under the camera family; crop: no effect
EFFECTS = {
    "none": {"clean": 0.0 * MASKS["night"], "camera": np.zeros(N), "digital": np.zeros(N)},
    "jitter": {"clean": 0.1 * MASKS["night"], "camera": np.full(N, 0.1), "digital": np.zeros(N)},
    "crop": {"clean": np.zeros(N), "camera": np.zeros(N), "digital": np.zeros(N)},
}


def _study(blind: str | None = None, crop_seeds: int = 5):
    """Three arms (none is the baseline), 5 seeds each (crop: `crop_seeds`), each run's clean evaluation
    and its two corrupted passes; `blind` names a run flagged as ignoring its input."""
    rng = np.random.default_rng(3)
    arms, robs = [], {}
    for aug, fx in EFFECTS.items():
        runs = []
        for seed in range(crop_seeds if aug == "crop" else 5):
            noise = rng.normal(0, 0.005)
            clean = _result(_mats(rng, 0.6 + fx["clean"] + noise))
            passes = {CORRUPTIONS[0]: _result(_mats(rng, 0.6 + fx["camera"] + noise)),
                      CORRUPTIONS[1]: _result(_mats(rng, 0.6 + fx["digital"] + noise))}  # fmt: skip
            name = f"{aug}-{seed}"
            clean.dependence = BLIND if name == blind else SEES
            robs[name] = Robustness(clean, passes, 0)
            runs.append(SimpleNamespace(name=name, seed=seed, result=clean))
        arms.append(Arm(aug, aug, {"aug": aug}, runs))
    return arms, robs


def _judged(blind: str | None = None, crop_seeds: int = 5, min_effect: float = 0.5):
    """compare's arms and conditions, then the table under shift: (comparison, robust comparison)."""
    arms, robs = _study(blind, crop_seeds)
    base = arms[0]
    arms_judged, conditions = judge_arms(arms, base, min_effect), condition_tests(arms, base, min_effect)
    comparison = SimpleNamespace(arms=arms_judged, baseline_arm=base, conditions=conditions)
    lum = {n: 10.0 if DARK[i] else 90.0 for i, n in enumerate(NAMES)}
    columns, notes = build_columns([c for c, _ in CORRUPTIONS], (3,), ("dark", "sequence"), lum, NAMES)
    rc = judge_under_shift(comparison, robs, columns, notes, min_effect=min_effect)
    return comparison, rc, robs


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


# every measure with a verdict: its score of a run (by hand, from the matrices)
def _by_hand(robs) -> dict[str, callable]:
    clean = lambda r: robs[r].clean.per_image  # noqa: E731
    passes = lambda r, k: robs[r].passes[k].per_image  # noqa: E731
    return {
        "clean": lambda r: miou_by_hand(clean(r)),
        "night": lambda r: miou_by_hand(clean(r)[MASKS["night"]]),
        "rain": lambda r: miou_by_hand(clean(r)[MASKS["rain"]]),
        "camera": lambda r: miou_by_hand(passes(r, CORRUPTIONS[0])),
        "digital": lambda r: miou_by_hand(passes(r, CORRUPTIONS[1])),
        "suite": lambda r: miou_by_hand(np.concatenate([passes(r, k) for k in CORRUPTIONS])),
        "dark": lambda r: miou_by_hand(clean(r)[DARK]),
        "seq 0001TP": lambda r: miou_by_hand(clean(r)),
    }


def _p_by_hand(robs, arms: list[str], seeds: int = 5) -> dict[tuple[str, str], float]:
    """scipy's paired t over seeds 0..seeds-1 of every (arm, measure) with a verdict."""
    out = {}
    for measure, score in _by_hand(robs).items():
        for arm in arms:
            a = [score(f"{arm}-{s}") for s in range(seeds)]
            b = [score(f"none-{s}") for s in range(seeds)]
            out[(arm, measure)] = float(sps.ttest_rel(a, b).pvalue)
    return out


def _holm_seen(comparison, rc) -> dict[tuple[str, str], float | None]:
    """Every Holm p the study reports, as (arm, measure) -> p, from the arms, conditions and shift rows."""
    seen = {(r.arm.name, "clean"): r.p_holm for r in comparison.arms if r.test is not None}
    seen |= {(r["arm"], r["condition"]): r["p_holm"] for r in comparison.conditions}
    for (arm, col), cell in rc.cells.items():
        if arm != "none":
            got = cell.to_json()["p_holm"]
            assert col != "clean" or got == seen[(arm, "clean")]  # the clean column is the clean cell
            seen[(arm, col)] = got
    return seen


def test_one_holm_family_over_clean_conditions_and_every_shift_cell():
    comparison, rc, robs = _judged()
    p = _p_by_hand(robs, ["jitter", "crop"])
    assert len(p) == 16  # 8 measures with a verdict x 2 arms (fog has 2 frames: no verdict)
    expected = dict(zip(p, holm_by_hand(list(p.values()))))
    seen = _holm_seen(comparison, rc)
    assert seen.pop(("jitter", "fog")) is None and seen.pop(("crop", "fog")) is None
    assert seen == pytest.approx(expected, rel=1e-9)
    assert rc.tests == 16 and rc.to_json()["holm_tests"] == 16
    assert all(r["holm_family"] == 16 for r in comparison.conditions)
    assert all(c.to_json()["holm_family"] == 16 for c in rc.cells.values())
    assert all(r.family == 16 for r in comparison.arms)
    assert {c.to_json()["measure"] for c in rc.cells.values()} == {"clean", "family", "suite", "slice"}
    # the planted effects are still found after Holm over 16 tests; crop's nothing is found in no cell
    words = {k: c.word for k, c in rc.cells.items()}
    assert words[("jitter", "camera")] == words[("jitter", "suite")] == "helps"
    assert words[("jitter", "clean")] == words[("jitter", "dark")] == "helps"
    night = {r["arm"]: r["verdict"] for r in comparison.conditions if r["condition"] == "night"}
    assert night["jitter"] == "helps" and night["crop"] not in ("helps", "hurts")
    assert not any(w in ("helps", "hurts") for (a, _), w in words.items() if a == "crop")
    jitter = next(r for r in comparison.arms if r.arm.name == "jitter")
    assert jitter.verdict.startswith("better than none")


def test_too_few_frames_withholds_a_condition_with_the_reason_and_keeps_its_test():
    comparison, _, robs = _judged()
    fog = {r["arm"]: r for r in comparison.conditions if r["condition"] == "fog"}
    for arm, row in fog.items():
        assert row["images"] == 2 and row["p_holm"] is None and row["verdict"] == "not tested"
        assert "2 test frame(s), under 10" in row["reason"]
        a = [miou_by_hand(robs[f"{arm}-{s}"].clean.per_image[MASKS["fog"]]) for s in range(5)]
        b = [miou_by_hand(robs[f"none-{s}"].clean.per_image[MASKS["fog"]]) for s in range(5)]
        assert row["p_value"] == pytest.approx(sps.ttest_rel(a, b).pvalue, rel=1e-9)  # shown, not judged
        assert row["delta"] == pytest.approx(np.mean(np.subtract(a, b)), abs=1e-12)


def test_a_flagged_run_gets_no_verdict_in_any_kind_of_cell_and_leaves_the_family():
    comparison, rc, robs = _judged(blind="crop-3")
    crop = next(r for r in comparison.arms if r.arm.name == "crop")
    assert crop.verdict.startswith("no verdict") and "crop-3 ignores its input" in crop.verdict
    assert crop.p_holm is None
    for row in (r for r in comparison.conditions if r["arm"] == "crop"):
        assert row["p_holm"] is None and row["verdict"] == "not tested", row
        assert "crop-3 ignores its input" in row["reason"]
    for (arm, col), cell in rc.cells.items():
        if arm == "crop":
            assert cell.word == "not tested" and "crop-3 ignores its input" in cell.to_json()["reason"], col
    # the family is jitter's 8 cells alone, and their Holm p's are over those 8
    p = _p_by_hand(robs, ["jitter"])
    seen = {k: v for k, v in _holm_seen(comparison, rc).items() if k[0] == "jitter" and k[1] != "fog"}
    assert seen == pytest.approx(dict(zip(p, holm_by_hand(list(p.values())))), rel=1e-9)
    assert rc.tests == 8 and all(r["holm_family"] == 8 for r in comparison.conditions)


def test_too_few_shared_seeds_withholds_every_kind_with_the_reason():
    comparison, rc, _ = _judged(crop_seeds=2)
    why = "2 shared seeds: a verdict needs 3"
    crop = next(r for r in comparison.arms if r.arm.name == "crop")
    assert crop.p_holm is None and why in crop.verdict
    rows = [r for r in comparison.conditions if r["arm"] == "crop"]
    assert rows and all(why in r["reason"] and r["p_holm"] is None for r in rows)
    cells = [c for (a, _), c in rc.cells.items() if a == "crop"]
    assert all(why in c.to_json()["reason"] and c.word == "not tested" for c in cells)
    assert rc.tests == 8


@pytest.mark.parametrize("min_effect", [0.5, 30.0])
def test_min_effect_changes_the_words_of_every_kind(min_effect):
    comparison, rc, _ = _judged(min_effect=min_effect)
    jitter = next(r for r in comparison.arms if r.arm.name == "jitter")
    cond = {r["condition"]: r["verdict"] for r in comparison.conditions if r["arm"] == "jitter"}
    shift = {col: c.word for (a, col), c in rc.cells.items() if a == "jitter"}
    if min_effect > 10:  # every interval of the study within ±30 points
        assert jitter.verdict.startswith("negligible")
        assert cond == {"night": "negligible", "rain": "negligible", "fog": "not tested"}
        assert set(shift.values()) == {"negligible"}
    else:
        assert jitter.verdict.startswith("better than none") and cond["night"] == "helps"
        assert shift["camera"] == shift["clean"] == "helps"


def test_a_new_measure_is_one_function_and_joins_the_family_and_the_rule(monkeypatch):
    """A toy measure (pixel accuracy) registered from here, touching no module: its cell is in the table,
    Holm-adjusted with every other cell, and withheld when a run is flagged."""
    toy = lambda first: [Measure("toy", "pixel accuracy", lambda run: run.result.scores.pixel_acc)]  # noqa: E731
    monkeypatch.setattr(measures, "PROVIDERS", (*measures.PROVIDERS, toy))
    arms, robs = _study()
    res = {r.arm.name: r for r in judge_arms(arms, arms[0])}
    p = {}
    labelled = 1000 * (CLASSES.num_classes - 1) * N  # pixels: 1,000 per class but void, per image
    hand = _by_hand(robs) | {"toy": lambda r: float(np.trace(robs[r].clean.per_image.sum(0))) / labelled}
    for m in ("clean", "night", "rain", "toy"):
        for arm in ("jitter", "crop"):
            a, b = ([hand[m](f"{x}-{s}") for s in range(5)] for x in (arm, "none"))
            p[(arm, m)] = float(sps.ttest_rel(a, b).pvalue)
    expected = dict(zip(p, holm_by_hand(list(p.values()))))
    cells = {(c.arm, c.measure.name): c for r in res.values() for c in r.cells}
    assert cells[("jitter", "pixel accuracy")].p_holm == pytest.approx(expected[("jitter", "toy")], rel=1e-9)
    assert cells[("crop", "pixel accuracy")].p_holm == pytest.approx(expected[("crop", "toy")], rel=1e-9)
    assert res["jitter"].p_holm == pytest.approx(expected[("jitter", "clean")], rel=1e-9)
    assert res["jitter"].family == 8 and all(r["holm_family"] == 8 for r in condition_tests(arms, arms[0]))
    arms, _ = _study(blind="jitter-1")
    blind = {(c.arm, c.measure.name): c for r in judge_arms(arms, arms[0]) for c in r.cells}
    cell = blind[("jitter", "pixel accuracy")]
    assert cell.p_holm is None and cell.word == "not tested" and "jitter-1 ignores its input" in cell.withheld


def test_with_clean_cells_only_the_family_is_the_arms_as_before():
    """No conditions, no shift: the family is the clean arms, Holm over their paired t's."""
    arms, robs = _study()
    for a in arms:
        for r in a.runs:
            r.result.conditions = None
    res = judge_arms(arms, arms[0])
    p = _p_by_hand(robs, ["jitter", "crop"])
    expected = holm_by_hand([p[("jitter", "clean")], p[("crop", "clean")]])
    assert [r.p_holm for r in res[1:]] == pytest.approx(expected, rel=1e-9)
    assert [r.family for r in res[1:]] == [2, 2] and [len(r.cells) for r in res] == [1, 1, 1]
    assert condition_tests(arms, arms[0]) == []


def test_judge_table_refuses_two_measures_of_one_name():
    arms, _ = _study()
    m = Measure("toy", "x", lambda run: 0.5)
    with pytest.raises(ValueError, match="toy x"):
        judge_table(arms, arms[0], [m, m])


def test_a_score_of_none_is_no_score_for_that_seed():
    arms, _ = _study()
    m = Measure("toy", "odd seeds", lambda run: None if run.seed % 2 else run.result.scores.miou)
    cell = judge_table(arms, arms[0], [m]).cells[("jitter", m.key)]
    assert cell.test.seeds_paired == [0, 2, 4] and set(cell.per_seed) == {0, 2, 4}
    assert math.isfinite(cell.test.p_value)


# --- calibration: one family over every cell must not inflate the study-wide false-positive rate ---

SIM_MEASURES = 6  # clean and five subsets (conditions, families, slices): correlated within a run
SIM_SEEDS = {"none": range(5), "a": range(5), "b": range(3), "c": range(6)}  # unequal arms


def _sim_arms(rng, effect: float = 0.0) -> list[Arm]:
    """One simulated study: every run's score on each measure is a heavy-tailed seed effect (t, 3 df;
    shared by the arms' runs of one seed), a run effect shared by its measures and the measure's own
    noise; arm a gets `effect` on measure 0."""
    seed_fx = 0.015 * rng.standard_t(3, size=6) / math.sqrt(3)
    arms = []
    for aug, seeds in SIM_SEEDS.items():
        runs = []
        for s in seeds:
            values = seed_fx[s] + 0.01 * rng.standard_t(3) / math.sqrt(3) + rng.normal(0, 0.01, SIM_MEASURES)
            values[0] += effect if aug == "a" else 0.0
            result = SimpleNamespace(per_image=np.array([rng.random()]), dependence=None, values=values)
            runs.append(SimpleNamespace(name=f"{aug}-{s}", seed=s, result=result))
        arms.append(Arm(aug, aug, {"aug": aug}, runs))
    return arms


SIM = [Measure("toy", str(k), lambda run, k=k: float(run.result.values[k])) for k in range(SIM_MEASURES)]


def simulate(studies: int, effect: float, seed: int = 0) -> tuple[float, float]:
    """(share of studies with any 'helps' or 'hurts' among the null cells, share where arm a's planted
    measure says 'helps')."""
    rng = np.random.default_rng(seed)
    false, found = 0, 0
    for _ in range(studies):
        arms = _sim_arms(rng, effect)
        table = judge_table(arms, arms[0], SIM, min_effect=0.0)
        null = [
            c for c in table.cells.values() if c.test is not None and (c.arm, c.measure.name) != ("a", "0")
        ]
        false += any(c.word in ("helps", "hurts") for c in null)
        found += table.cells[("a", SIM[0].key)].word == "helps"
    return false / studies, found / studies


@pytest.mark.slow
def test_one_family_keeps_the_study_wide_false_positive_rate_at_5_percent_and_finds_an_effect():
    studies = scaled(600, least=100)
    fpr, _ = simulate(studies, 0.0)
    assert fpr <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / studies), fpr  # 18 cells, one Holm family
    _, power = simulate(scaled(200, least=50), 0.08, seed=1)
    assert power >= 0.5, power  # 8 points, 4 SDs of a per-seed difference: found despite 18 tests


if __name__ == "__main__":  # the figures of the report: python tests/test_cells.py
    for eff in (0.0, 0.03, 0.06, 0.08):
        print(eff, simulate(2000 if eff == 0 else 500, eff))
