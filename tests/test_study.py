"""Calibration of the study's arm test (issue 18): simulated studies where the truth is known.

Each simulated run scores images whose difficulty drifts along the frames of a sequence (neighbouring
frames are alike), plus a seed effect of known SD shared in part by the two arms' runs of one seed
(same initialisation and data order). With no true difference the seed-aware test must reject at
0.05 in at most 7% of studies, at 3 and at 5 seeds per arm; the image-only test of one checkpoint
against another (what compare did before) rejects far more often.
"""

from __future__ import annotations

import numpy as np
import pytest

from camseg_cli.core.evaluation.bootstrap import draw_test, resampled_scores
from camseg_cli.core.evaluation.study import arm_test, block_indices, default_block, frame_blocks, holm

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


def _rates(seeds: int, effect: float, studies: int = STUDIES, seed: int = 0) -> tuple[float, float]:
    """(seed-aware rejection rate, image-only rejection rate of seed 0 vs seed 0) over simulated studies."""
    rng = np.random.default_rng(seed)
    names = _names()
    aware = image_only = 0
    for k in range(studies):
        base, arm = _study(rng, seeds, effect, names)
        t = arm_test(base, arm, names, ignore_index=3, reps=400, seed=k)
        aware += t.test.significant
        idx = block_indices(frame_blocks(names, 1), 400, rng)  # today's test: one pair, single images
        d = resampled_scores(arm[0], idx, 3)["miou"] - resampled_scores(base[0], idx, 3)["miou"]
        image_only += draw_test(d).significant
    return aware / studies, image_only / studies


@pytest.mark.parametrize("seeds", [3, 5])
def test_no_true_difference_rejects_at_most_7_percent_while_the_image_only_test_does_far_more(seeds):
    aware, image_only = _rates(seeds, effect=0.0)
    print(f"\n{seeds} seeds, no difference: seed-aware rejects {aware:.3f}, image-only {image_only:.3f}")
    assert aware <= 0.07
    assert image_only >= 3 * max(aware, 0.05)


def test_a_difference_of_twice_the_seed_sd_is_found_with_5_seeds():
    aware, _ = _rates(5, effect=2 * SEED_SD, studies=100, seed=1)
    print(f"\n5 seeds, true difference 2 x seed SD: power {aware:.2f}")
    assert aware >= 0.5


def test_blocks_follow_sequences_and_names_without_one_stand_alone():
    names = ["A_00003", "A_00001", "A_00002", "Seq05VD_f00030", "Seq05VD_f00060", "odd", "A_00004"]
    blocks = [sorted(names[i] for i in b) for b in frame_blocks(names, 2)]
    assert sorted(blocks) == sorted(
        [["odd"], ["A_00001", "A_00002"], ["A_00003", "A_00004"], ["Seq05VD_f00030", "Seq05VD_f00060"]]
    )
    assert default_block(233) == 6 and default_block(1) == 1


def test_holm_matches_a_hand_computed_example():
    # sorted 0.01, 0.02, 0.04 -> x3, x2, x1 = 0.03, 0.04, 0.04 (monotone), back in the input order
    assert holm([0.04, 0.01, 0.02, float("nan")])[:3] == pytest.approx([0.04, 0.03, 0.04])


def _arm_runs(aug: str, mats: dict[int, np.ndarray], names, **settings):
    """compare-like runs of one arm (an EvalResult per seed), for group_arms and judge_arms."""
    from pathlib import Path
    from types import SimpleNamespace

    from camseg_cli.core.data.classes import ClassMap
    from camseg_cli.core.evaluation.results import EvalResult

    classes = ClassMap(("a", "b", "c", "Void"), ((1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, 0)), void=3)
    runs = []
    for seed, m in mats.items():
        result = EvalResult("x.pt", f"{aug}-s{seed}", "test", "d", classes, list(names), m, np.zeros(len(m)))
        config = {"aug": aug, "seed": seed, "epochs": 10, **settings}
        runs.append(SimpleNamespace(name=f"{aug}-s{seed}", aug=aug, seed=seed, config=config,
                                    path=Path(f"{aug}-s{seed}.pt"), result=result))  # fmt: skip
    return runs


def test_verdicts_say_what_the_study_can_and_cannot_conclude():
    from camseg_cli.core.evaluation.arms import group_arms, judge_arms, pick_baseline_arm

    rng = np.random.default_rng(5)
    names = _names()
    base, same = _study(rng, 5, 0.0, names)
    _, better = _study(rng, 5, 0.15, names)  # 15 accuracy points: far above seed and image noise
    runs = _arm_runs("none", base, names) + _arm_runs("flip", same, names)
    runs += _arm_runs("crop", better, names)
    runs += _arm_runs("jitter", {0: same[0]}, names)  # one seed only
    arms = group_arms(runs)
    results = {
        r.arm.name: r for r in judge_arms(arms, pick_baseline_arm(arms, None), reps=400, min_effect=8.0)
    }
    assert results["none"].test is None and results["none"].verdict == "baseline"
    assert results["crop"].verdict.startswith("better than none") and "Holm p" in results["crop"].verdict
    assert results["jitter"].test.seed_aware is False
    assert results["jitter"].verdict.startswith("one seed, so seed noise cannot be separated")
    assert "describes these checkpoints, not the augmentation" in results["jitter"].verdict
    assert "must differ by" in results["jitter"].verdict  # the other arms give a seed SD
    # a wide --min-effect (8 points) holds the null arm's interval: negligible, not "better by 0.0"
    assert results["flip"].verdict.startswith("negligible")
    ps = [results[a].test.test.p_value for a in ("flip", "crop", "jitter")]
    assert [results[a].p_holm for a in ("flip", "crop", "jitter")] == pytest.approx(holm(ps))
