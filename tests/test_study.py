"""The study's arm test (issue 22): the paired t over shared seeds against independent computations,
the seeds it pairs and leaves out, the verdicts judge_arms writes from per-image confusion matrices,
and the defects of issue 22.6. Calibration by simulation: tests/test_study_calibration.py.

Simulated runs score images whose difficulty drifts along the frames of a sequence, plus a seed effect
of known SD shared in part by the two arms' runs of one seed (same initialisation and data order).
"""

from __future__ import annotations

import numpy as np
import pytest

from camseg_cli.core.evaluation.scoring.bootstrap import default_block, frame_blocks
from camseg_cli.core.evaluation.stats.study import arm_test, holm

K = 4  # classes 0..2 scored, 3 = void
PIXELS = 400
SEED_SD = 0.02  # of a run's accuracy: about 1.5 mIoU points, as CamVid seeds move
STUDIES = 200


def _names(sequences: int = 3, frames: int = 20) -> list[str]:
    return [f"S{s:02d}_{f:05d}" for s in range(sequences) for f in range(frames)]


def _frame_effects(rng, names) -> np.ndarray:
    """AR(1) difficulty along each sequence: neighbouring frames nearly the same."""
    out = np.empty(len(names))
    i = 0
    for _ in sorted({n.split("_")[0] for n in names}):
        count = sum(n.startswith(names[i].split("_")[0]) for n in names)
        e = rng.normal(0, 0.08)
        for k in range(count):
            e = 0.9 * e + rng.normal(0, 0.035)
            out[i + k] = e
        i += count
    return out


def _run(rng, quality: float, frames: np.ndarray) -> np.ndarray:
    """Per-image confusion matrices of a run whose accuracy on image i is quality + frames[i] + noise."""
    n = len(frames)
    mats = np.zeros((n, K, K), dtype=np.int64)
    for i in range(n):
        gt = rng.multinomial(PIXELS, [0.5, 0.3, 0.15, 0.05])
        p = float(np.clip(quality + frames[i] + rng.normal(0, 0.01), 0.05, 0.99))
        for c in range(K):
            right = rng.binomial(gt[c], p) if c != 3 else 0
            wrong = rng.multinomial(gt[c] - right, [1 / 3] * 3 + [0])
            mats[i, c] += wrong
            mats[i, c, c] += right
    return mats


def _study(rng, seeds: int, effect: float, names) -> tuple[dict, dict]:
    frames = _frame_effects(rng, names)
    base, arm = {}, {}
    for s in range(seeds):
        shared = rng.normal(0, SEED_SD)  # same seed: same init and data order in both arms
        own_b, own_a = rng.normal(0, SEED_SD, 2)
        base[s] = _run(rng, 0.7 + (shared + own_b) / np.sqrt(2), frames)
        arm[s] = _run(rng, 0.7 + effect + (shared + own_a) / np.sqrt(2), frames)
    return base, arm


def test_blocks_follow_sequences_and_names_without_one_stand_alone():
    names = ["A_00003", "A_00001", "A_00002", "Seq05VD_f00030", "Seq05VD_f00060", "odd", "A_00004"]
    blocks = [sorted(names[i] for i in b) for b in frame_blocks(names, 2)]
    assert sorted(blocks) == sorted(
        [["odd"], ["A_00001", "A_00002"], ["A_00003", "A_00004"], ["Seq05VD_f00030", "Seq05VD_f00060"]]
    )
    assert default_block(233) == 6 and default_block(1) == 1


def test_holm_matches_a_hand_computed_example_and_leaves_out_what_has_no_p():
    # sorted 0.01, 0.02, 0.04 -> x3, x2, x1 = 0.03, 0.04, 0.04 (monotone), back in the input order
    out = holm([0.04, 0.01, None, 0.02, float("nan")])
    assert out[:2] == pytest.approx([0.04, 0.03]) and out[3] == pytest.approx(0.04)
    assert out[2] is None and out[4] is None  # no p, no member of the family (else x4, not x3)


def test_the_paired_t_is_scipys_paired_t_over_the_shared_seeds_only():
    from scipy import stats

    base = {0: 0.50, 1: 0.52, 2: 0.51, 3: 0.55, 4: 0.49}
    arm = {0: 0.53, 1: 0.54, 2: 0.515, 3: 0.56, 4: 0.52, 5: 0.40}  # seed 5: no partner
    t = arm_test(base, arm)
    shared = [0, 1, 2, 3, 4]
    ref = stats.ttest_rel([arm[s] for s in shared], [base[s] for s in shared])
    d = np.array([arm[s] - base[s] for s in shared])
    half = stats.t.ppf(0.975, 4) * d.std(ddof=1) / np.sqrt(5)
    assert t.kind == "paired t" and t.seeds_paired == shared and t.seeds_unpaired == [5]
    assert t.p_value == pytest.approx(ref.pvalue) and t.delta == pytest.approx(d.mean())
    assert t.ci == pytest.approx((d.mean() - half, d.mean() + half))
    assert t.verdict_allowed and "these test images, new training seeds" in t.description
    # issue 22.1: the same study without the extra seed gives the very same test
    assert arm_test(base, {s: arm[s] for s in shared}).p_value == pytest.approx(t.p_value)


def test_welch_only_when_the_arms_share_no_seed_and_it_says_so():
    from scipy import stats

    base, arm = {0: 0.50, 1: 0.52, 2: 0.51}, {7: 0.53, 8: 0.56, 9: 0.52, 10: 0.55}
    t = arm_test(base, arm)
    ref = stats.ttest_ind(list(arm.values()), list(base.values()), equal_var=False)
    assert t.kind == "Welch t" and "share no seed" in t.description and t.seeds_paired == []
    assert t.p_value == pytest.approx(ref.pvalue) and t.seeds_unpaired == [0, 1, 2, 7, 8, 9, 10]


def test_fewer_than_3_shared_seeds_give_no_verdict_and_one_seed_no_p_value():
    two = arm_test({0: 0.5, 1: 0.52}, {0: 0.53, 1: 0.56})
    assert two.tested and not two.verdict_allowed and two.reason == "2 shared seeds: a verdict needs 3"
    one = arm_test({0: 0.5, 1: 0.52, 2: 0.5}, {0: 0.53})
    assert not one.tested and "one shared seed" in one.reason and one.seeds_unpaired == [1, 2]


def test_probability_of_improvement_counts_pairs_and_its_interval_never_collapses():
    base, arm = [0.50, 0.52, 0.54], [0.53, 0.55, 0.52]
    wins = (2 + 3 + 1 + 0.5) / 9  # by hand: .53 beats 2, .55 beats 3, .52 beats .50 and ties .52
    t = arm_test(dict(enumerate(base)), dict(enumerate(arm)))
    assert t.prob_improvement == pytest.approx(wins)
    lo, hi = t.prob_improvement_ci
    assert 0 < lo < wins < hi < 1
    every = arm_test(dict(enumerate(base)), {0: 0.9, 1: 0.91, 2: 0.92})
    assert every.prob_improvement == 1.0 and every.prob_improvement_ci[0] < 0.6  # 3 seeds: wide


def test_the_interval_of_probability_of_improvement_covers_the_truth_in_95_percent_of_studies():
    rng = np.random.default_rng(0)
    from scipy.stats import norm

    truth = float(norm.cdf(0.01 / (0.01 * np.sqrt(2))))  # P(arm run > base run): runs 1 point apart, SD 1
    hits = 0
    for _ in range(400):
        b, a = rng.normal(0.5, 0.01, 3), rng.normal(0.51, 0.01, 5)
        lo, hi = arm_test(dict(enumerate(b)), {k + 10: v for k, v in enumerate(a)}).prob_improvement_ci
        hits += lo <= truth <= hi
    assert hits / 400 >= 0.95 - 2.58 * np.sqrt(0.05 * 0.95 / 400)


def _arm_runs(aug: str, mats: dict[int, np.ndarray], names, **settings):
    """compare-like runs of one arm (an EvalResult per seed), for group_arms and judge_arms."""
    from pathlib import Path
    from types import SimpleNamespace

    from camseg_cli.core.data.classes.maps import ClassMap
    from camseg_cli.core.evaluation.scoring.results import EvalResult

    classes = ClassMap(("a", "b", "c", "Void"), ((1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, 0)), void=3)
    runs = []
    for seed, m in mats.items():
        result = EvalResult("x.pt", f"{aug}-s{seed}", "test", "d", classes, list(names), m, np.zeros(len(m)))
        config = {"aug": aug, "seed": seed, "epochs": 10, **settings}
        runs.append(SimpleNamespace(name=f"{aug}-s{seed}", aug=aug, seed=seed, config=config,
                                    path=Path(f"{aug}-s{seed}.pt"), result=result))  # fmt: skip
    return runs


def _judge(runs, min_effect=0.5):
    from camseg_cli.core.evaluation.compare.arms import group_arms, pick_baseline_arm
    from camseg_cli.core.evaluation.compare.verdicts import judge_arms

    arms = group_arms(runs)
    return {r.arm.name: r for r in judge_arms(arms, pick_baseline_arm(arms, None), min_effect=min_effect)}


def test_verdicts_say_what_the_study_can_and_cannot_conclude():
    from camseg_cli.core.evaluation.compare.verdicts import arms_frame, arms_json

    rng = np.random.default_rng(5)
    names = _names()
    base, same = _study(rng, 5, 0.0, names)
    _, better = _study(rng, 5, 0.15, names)  # 15 accuracy points: far above seed and image noise
    runs = _arm_runs("none", base, names) + _arm_runs("flip", same, names)
    runs += _arm_runs("crop", better, names)
    runs += _arm_runs("jitter", {0: same[0]}, names)  # one seed only
    runs += _arm_runs("blur", {0: better[0], 1: better[1]}, names)  # two seeds
    results = _judge(runs, min_effect=8.0)
    assert results["none"].test is None and results["none"].verdict == "baseline"
    assert results["crop"].verdict.startswith("better than none") and "Holm p" in results["crop"].verdict
    assert (
        "paired t over 5 shared seeds (about these test images, new training seeds)"
        in results["crop"].verdict
    )
    assert results["jitter"].verdict.startswith("one seed, so seed noise cannot be separated")
    assert "describes these checkpoints, not the augmentation" in results["jitter"].verdict
    assert results["blur"].verdict.startswith("no verdict (2 shared seeds: a verdict needs 3)")
    # a wide --min-effect (8 points) holds the null arm's interval: negligible, not "better by 0.0"
    assert results["flip"].verdict.startswith("negligible")
    # Holm over the arms with a verdict only: flip and crop (x2), not the one- and two-seed arms (x4)
    ps = [results[a].test.p_value for a in ("flip", "crop")]
    assert [results[a].p_holm for a in ("flip", "crop")] == pytest.approx(holm(ps))
    assert results["crop"].p_holm == pytest.approx(min(1, 2 * min(ps)))
    rows = {row["arm"]: row for row in arms_json(list(results.values()))}
    assert rows["jitter"]["p_value"] is None and rows["jitter"]["p_holm"] is None
    assert "one shared seed" in rows["jitter"]["reason"] and rows["jitter"]["seeds_unpaired"] == [1, 2, 3, 4]
    assert rows["blur"]["p_value"] is not None and rows["blur"]["p_holm"] is None
    assert rows["crop"]["seeds_paired"] == [0, 1, 2, 3, 4] and rows["crop"]["test"].startswith("paired t")
    from camseg_cli.core.evaluation.compare.verdicts import arm_cells

    assert (
        arm_cells(results["blur"])[6] == "—"
        and arm_cells(results["crop"])[6] == f"{results['crop'].p_holm:.3f}"
    )
    frame = arms_frame(list(results.values())).set_index("arm")
    assert np.isnan(frame.loc["jitter", "p_value"]) and "one shared seed" in frame.loc["jitter", "reason"]


def test_seeds_none_and_1_in_one_arm_are_judged_without_a_type_error():
    """Issue 22.6: a run that recorded no seed beside one that did raised TypeError in sorted()."""
    rng = np.random.default_rng(1)
    names = _names()
    base, arm = _study(rng, 4, 0.0, names)
    runs = _arm_runs("none", {None: base[0], 1: base[1], 2: base[2], 3: base[3]}, names)
    runs += _arm_runs("flip", {None: arm[0], 1: arm[1], 2: arm[2], 3: arm[3]}, names)
    flip = _judge(runs)["flip"]
    assert flip.test.seeds_paired == [1, 2, 3] and flip.test.seeds_unpaired == [None]  # unknown: unpaired


def test_bit_identical_seeds_count_once():
    """Issue 22.6: three seeds that gave one and the same model are one draw, not three."""
    rng = np.random.default_rng(2)
    names = _names()
    base, arm = _study(rng, 3, 0.05, names)
    runs = _arm_runs("none", base, names) + _arm_runs("flip", {0: arm[0], 1: arm[0], 2: arm[0]}, names)
    flip = _judge(runs)["flip"]
    assert flip.test.seeds_paired == [0] and not flip.test.tested  # was: 3 seeds, seed-aware, SD 0
    assert "bit-identical results counted once (seed 1 = seed 0, seed 2 = seed 0)" in flip.verdict


def test_all_zero_matrices_say_mIoU_is_undefined_not_bootstrap_0():
    """Issue 22.6: with no labelled pixel the verdict blamed --bootstrap 0."""
    names = _names(1, 4)
    zero = {s: np.zeros((4, K, K), dtype=np.int64) for s in range(3)}
    flip = _judge(_arm_runs("none", zero, names) + _arm_runs("flip", zero, names))["flip"]
    assert "--bootstrap" not in flip.verdict and "mIoU undefined (no labelled pixel)" in flip.verdict


def _image_driven(names, k: int):
    """3 seeds per arm, the arm better by a hair everywhere and by a lot on image k."""
    rng = np.random.default_rng(3)
    base, arm = {}, {}
    for s in range(3):
        frames = np.zeros(len(names))
        base[s] = _run(rng, 0.6, frames)
        boost = np.zeros(len(names))
        boost[k] = 0.35
        arm[s] = _run(rng, 0.6 + 0.002, frames + boost)
    return base, arm


def test_a_verdict_that_one_image_decides_names_the_image():
    names = _names(1, 12)
    base, arm = _image_driven(names, 5)
    flip = _judge(_arm_runs("none", base, names) + _arm_runs("flip", arm, names), min_effect=0.1)["flip"]
    frag = [n for n in flip.notes if "without test image" in n]
    assert frag and names[5] in frag[0], flip.notes
    assert f"without test image {names[5]}" in flip.verdict


def test_a_class_predicted_but_never_labelled_that_moves_the_difference_is_named():
    """Issue 22.5: stray predictions of a class the test set never labels swung a difference silently."""
    names = _names(1, 10)
    rng = np.random.default_rng(4)
    base, arm = _study(rng, 3, 0.0, names)
    for s in arm:  # the arm says class 2 on a few pixels of image 0; no label is ever class 2
        for m in (base[s], arm[s]):
            m[:, 2, :] = 0
        arm[s][0, 0, 2] += 5
        arm[s][0, 0, 0] -= 5
    flip = _judge(_arm_runs("none", base, names) + _arm_runs("flip", arm, names))["flip"]
    assert any("class c is predicted but never labelled" in n for n in flip.notes), flip.notes
