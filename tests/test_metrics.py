"""ConfusionMatrix scores against an independent numpy computation and torchmetrics; bootstrap CIs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchmetrics.classification import MulticlassJaccardIndex

from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.scoring.bootstrap import (
    bootstrap_ci,
    bootstrap_indices,
    percentile_ci,
    resampled_scores,
)
from camseg_cli.core.evaluation.scoring.metrics import ConfusionMatrix, scores_from_matrix

N, VOID = 8, 3  # classes 5 and 6 never occur; class 7 is only ever predicted, never labelled


def _random_batches(seed: int = 0, batches: int = 3):
    rng = np.random.default_rng(seed)
    out = []
    for b in range(batches):
        h, w = 20 + 3 * b, 30 - 2 * b  # shapes differ between batches
        target = rng.choice([0, 1, 2, 3, 4], size=(2, h, w), p=[0.3, 0.3, 0.2, 0.1, 0.1])
        pred = np.where(rng.random((2, h, w)) < 0.6, target, rng.choice([0, 1, 2, 3, 4, 7], size=(2, h, w)))
        out.append((pred, target))
    return out


def numpy_scores(pairs, n: int, void: int) -> dict:
    """Straight from the definitions, one pixel list, no shared code with camseg."""
    pred = np.concatenate([p.ravel() for p, _ in pairs])
    gt = np.concatenate([t.ravel() for _, t in pairs])
    keep = gt != void
    pred, gt = pred[keep], gt[keep]
    iou, acc, dice = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    for c in range(n):
        if c == void:
            continue
        tp = np.sum((pred == c) & (gt == c))
        fp = np.sum((pred == c) & (gt != c))
        fn = np.sum((pred != c) & (gt == c))
        if tp + fp + fn:
            iou[c] = tp / (tp + fp + fn)
            dice[c] = 2 * tp / (2 * tp + fp + fn)
        if tp + fn:
            acc[c] = tp / (tp + fn)
    present = ~np.isnan(iou)
    with warnings.catch_warnings():  # all-NaN means and empty splits are NaN, as intended
        warnings.simplefilter("ignore", RuntimeWarning)
        freq = np.array([np.sum(gt == c) for c in range(n)]) / gt.size
        return {
            "iou": iou,
            "acc": acc,
            "dice": dice,
            "miou": np.nanmean(iou),
            "pixel_acc": np.mean(pred == gt),
            "mean_acc": np.nanmean(acc),
            "fwiou": np.sum(freq[present] * iou[present]),
        }


def _cm(pairs, n: int = N, void: int | None = VOID) -> ConfusionMatrix:
    cm = ConfusionMatrix(n, void)
    for pred, target in pairs:
        cm.update(torch.from_numpy(pred), torch.from_numpy(target))
    return cm


def test_scores_equal_numpy_definitions_with_absent_classes():
    pairs = _random_batches()
    s = _cm(pairs).compute()
    ref = numpy_scores(pairs, N, VOID)
    for key in ("iou", "acc", "dice"):
        np.testing.assert_allclose(getattr(s, key).numpy(), ref[key], rtol=1e-12, equal_nan=True)
    for key in ("miou", "pixel_acc", "mean_acc", "fwiou"):
        assert getattr(s, key) == pytest.approx(ref[key], rel=1e-12)
    assert math.isnan(s.iou[5]) and math.isnan(s.iou[6])  # absent: NaN, not 0 or 1
    assert s.iou[7] == 0  # predicted but never labelled: a real 0
    assert math.isnan(s.iou[VOID]) and s.absent == 2  # void is not counted as absent
    assert int(s.pixels[VOID]) == 0


def test_scores_match_torchmetrics_jaccard_with_ignore_index():
    pairs = _random_batches(seed=1)
    s = _cm(pairs).compute()
    preds = torch.cat([torch.from_numpy(p).flatten() for p, _ in pairs])
    target = torch.cat([torch.from_numpy(t).flatten() for _, t in pairs])
    per_class = MulticlassJaccardIndex(N, average="none", ignore_index=VOID, zero_division=float("nan"))
    theirs = per_class(preds, target).double().numpy()
    mine = s.iou.numpy()
    real = [c for c in range(N) if c != VOID]  # torchmetrics still scores the ignored class's column
    np.testing.assert_allclose(mine[real], theirs[real], rtol=1e-6, equal_nan=True)
    macro = MulticlassJaccardIndex(N, average="macro", ignore_index=VOID)(preds, target)
    assert s.miou == pytest.approx(float(macro), rel=1e-6)


def test_per_image_matrices_sum_to_the_split_and_count_ignored_pixels():
    pairs = _random_batches(seed=2)
    cm = _cm(pairs)
    per = cm.per_image()
    assert per.shape == (6, N, N) and per.dtype == torch.int64
    assert torch.equal(per.sum(0), cm.mat)
    voids = np.array([int((t[i] == VOID).sum()) for _, t in pairs for i in range(2)])
    np.testing.assert_array_equal(cm.ignored().numpy(), voids)
    rebuilt = ConfusionMatrix.from_per_image(per.numpy(), VOID, cm.ignored().numpy())
    assert torch.equal(rebuilt.mat, cm.mat) and rebuilt.num_images == 6


def test_merge_and_no_void_class():
    pairs = _random_batches(seed=3)
    a, b = _cm(pairs[:1], void=None), _cm(pairs[1:], void=None)
    a.merge(b)
    assert torch.equal(a.mat, _cm(pairs, void=None).mat)
    assert not math.isnan(a.compute().iou[VOID])  # without void, class 3 is an ordinary class


def test_all_pixels_ignored_gives_nan_not_zero():
    cm = ConfusionMatrix(4, 3)
    cm.update(torch.zeros(5, 5, dtype=torch.long), torch.full((5, 5), 3))
    s = cm.compute()
    assert math.isnan(s.miou) and math.isnan(s.pixel_acc) and s.absent == 3


def test_shape_mismatch_is_an_error():
    with pytest.raises(CamsegError, match="shape"):
        ConfusionMatrix(3).update(torch.zeros(2, 3), torch.zeros(3, 2))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 6),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    seed=st.integers(0, 2**16),
    void=st.one_of(st.none(), st.integers(0, 5)),
)
def test_property_matches_numpy(n, h, w, seed, void):
    void = None if void is None or void >= n else void
    rng = np.random.default_rng(seed)
    pairs = [(rng.integers(0, n, (1, h, w)), rng.integers(0, n, (1, h, w)))]
    s = _cm(pairs, n, void).compute()
    ref = numpy_scores(pairs, n, -1 if void is None else void)
    np.testing.assert_allclose(s.iou.numpy(), ref["iou"], equal_nan=True)
    if not math.isnan(ref["miou"]):
        assert s.miou == pytest.approx(ref["miou"])


# ---------------------------------------------------------------------------------------- bootstrap


def _per_image(images: int, seed: int = 0, n: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(images):
        target = rng.integers(0, n, (16, 16))
        skill = rng.uniform(0.3, 0.9)  # images differ in difficulty, so the CI has width
        pred = np.where(rng.random((16, 16)) < skill, target, rng.integers(0, n, (16, 16)))
        out.append((pred[None], target[None]))
    return _cm(out, n, None).per_image().numpy()


def test_bootstrap_indices_are_seeded():
    a = bootstrap_indices(10, 50, seed=7)
    assert a.shape == (50, 10) and a.min() >= 0 and a.max() < 10
    assert np.array_equal(a, bootstrap_indices(10, 50, seed=7))
    assert not np.array_equal(a, bootstrap_indices(10, 50, seed=8))


def test_resampled_scores_equal_summing_the_drawn_images():
    per = _per_image(12)
    idx = bootstrap_indices(12, 5, seed=1)
    got = resampled_scores(per, idx, None)
    for r in range(5):
        s = scores_from_matrix(torch.from_numpy(per[idx[r]].sum(0)))
        assert got["miou"][r] == pytest.approx(s.miou) and got["pixel_acc"][r] == pytest.approx(s.pixel_acc)


def test_bootstrap_ci_contains_the_estimate_and_narrows_with_more_images():
    widths = []
    for images in (10, 40, 160):
        per = _per_image(images, seed=images)
        s = scores_from_matrix(torch.from_numpy(per.sum(0)))
        ci = bootstrap_ci(per, reps=1000, seed=0)
        assert ci["miou"][0] <= s.miou <= ci["miou"][1]
        assert ci["pixel_acc"][0] <= s.pixel_acc <= ci["pixel_acc"][1]
        widths.append(ci["miou"][1] - ci["miou"][0])
    assert widths[0] > widths[1] > widths[2] > 0
    assert bootstrap_ci(per, reps=1000, seed=0) == bootstrap_ci(per, reps=1000, seed=0)  # seeded


def test_bootstrap_edge_cases():
    assert all(math.isnan(v) for v in bootstrap_ci(_per_image(3), reps=0)["miou"])
    assert all(math.isnan(v) for v in percentile_ci(np.array([np.nan, np.nan])))
    lo, hi = bootstrap_ci(_per_image(1), reps=20)["miou"]
    assert lo == pytest.approx(hi)  # one image: every draw is that image


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_update_on_cuda_never_syncs_with_the_host():
    cm = ConfusionMatrix(N, VOID, "cuda")
    pred = torch.randint(0, N, (2, 64, 96), device="cuda")
    target = torch.randint(0, N, (2, 64, 96), device="cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        cm.update(pred, target)
        cm.update(pred, target)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    ref = _cm([(pred.cpu().numpy(), target.cpu().numpy())] * 2)
    assert torch.equal(cm.mat.cpu(), ref.mat)
