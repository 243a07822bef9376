"""The corruption suite (core/data/corruption/): deterministic, masks untouched or warped with the image,
damage growing with severity, and the work done in the loader's workers."""

import hashlib
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from camseg_cli.core.choices import CORRUPTION_FAMILIES, CORRUPTIONS
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.data.corruption.names import parse_corrupt, parse_severity
from camseg_cli.core.data.corruption.suite import CorruptedDataset, Corruptor, corrupt
from camseg_cli.core.data.corruption.table import BY_NAME, SEVERITIES, TABLE, table_rows
from camseg_cli.core.data.sources.scene import render_scene
from camseg_cli.core.errors import CamsegError

A, B, IGNORE = 1, 2, 255
BRIGHT, DARK = 230, 20
GEOMETRIC = [c.name for c in TABLE if c.geometric]
PHOTOMETRIC = [c.name for c in TABLE if not c.geometric]
ROOT = Path(__file__).resolve().parents[1]


def scene(size=(180, 240), seed=3):
    """A synthetic street frame (independent of the suite) and its mask."""
    return render_scene(np.random.default_rng(seed), size, preset("camvid11"))


def checker(h=180, w=240, block=20):
    """Bright exactly where the mask says A, dark where it says B; an asymmetric band shows one-sided
    warps."""
    yy, xx = np.mgrid[0:h, 0:w]
    on = ((yy // block + xx // block) % 2).astype(bool)
    on[:, : w // 6] = True
    mask = np.where(on, A, B).astype(np.int64)
    return np.repeat(np.where(on, BRIGHT, DARK).astype(np.uint8)[..., None], 3, axis=2), mask


def agreement(image, mask):
    """Share of labelled interior pixels whose brightness says the mask's label (edges blend: skipped)."""
    grey = image.astype(np.float32).mean(axis=2)
    m = np.pad(mask, 1, mode="edge")
    h, w = mask.shape
    keep = np.ones_like(mask, dtype=bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            keep &= m[dy : dy + h, dx : dx + w] == mask
    keep &= mask != IGNORE
    return float(((grey > (BRIGHT + DARK) / 2)[keep] == (mask[keep] == A)).mean())


def test_the_suite_names_every_family_and_the_table_has_five_severities():
    assert set(CORRUPTIONS) == set(BY_NAME) and len(CORRUPTIONS) == 21
    assert {"low_light", "windscreen_stripes", "lens_distortion"} == set(CORRUPTION_FAMILIES["camera"])
    assert all(len(c.params) == 5 for c in TABLE)
    assert {r["corruption"] for r in table_rows()} == set(CORRUPTIONS)


def test_parse_corrupt_and_severity():
    assert parse_corrupt("all") == CORRUPTIONS
    assert parse_corrupt("blur") == CORRUPTION_FAMILIES["blur"]
    assert parse_corrupt("jpeg, fog, noise") == (
        "gaussian_noise",
        "shot_noise",
        "impulse_noise",
        "fog",
        "jpeg",
    )
    assert parse_corrupt("low-light") == ("low_light",)
    assert parse_severity("3") == (3,) and parse_severity("1-5") == SEVERITIES
    assert parse_severity("1,4-5") == (1, 4, 5)
    for bad in ("0", "2-6", "x", ""):
        with pytest.raises(CamsegError, match="--severity"):
            parse_severity(bad)
    with pytest.raises(CamsegError, match="unknown corruption 'hail'"):
        parse_corrupt("fog,hail")
    with pytest.raises(CamsegError, match="did you mean motion_blur"):
        parse_corrupt("motionblur")


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_same_inputs_same_bytes_and_the_image_name_seeds_the_draw(name):
    image, mask = scene()
    one, m1 = corrupt(image, mask, name, 3, seed=0, image_name="0001TP_000010")
    two, m2 = corrupt(image.copy(), mask.copy(), name, 3, seed=0, image_name="0001TP_000010")
    assert one.dtype == np.uint8 and one.shape == image.shape
    assert np.array_equal(one, two) and np.array_equal(m1, m2)
    assert not np.array_equal(one, image), f"{name} at severity 3 must change the frame"


def test_another_image_name_or_seed_draws_another_noise_field():
    image, mask = scene()
    base = corrupt(image, mask, "gaussian_noise", 2, 0, "a")[0]
    assert not np.array_equal(base, corrupt(image, mask, "gaussian_noise", 2, 0, "b")[0])
    assert not np.array_equal(base, corrupt(image, mask, "gaussian_noise", 2, 1, "a")[0])


def _digest_in_a_fresh_process(hashseed: str) -> str:
    code = (
        "import hashlib, numpy as np; from camseg_cli.core.data.corruption.suite import corrupt;"
        "img = (np.arange(60*80*3) % 251).astype(np.uint8).reshape(60, 80, 3);"
        "out = corrupt(img, np.zeros((60, 80), np.int64), 'impulse_noise', 4, 7, 'Seq05VD_f00030')[0];"
        "print(hashlib.sha256(out.tobytes()).hexdigest())"
    )
    env = {"PYTHONHASHSEED": hashseed, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout


def test_the_seed_is_a_stable_hash_not_pythons_salted_hash():
    assert _digest_in_a_fresh_process("1") == _digest_in_a_fresh_process("2")
    img = (np.arange(60 * 80 * 3) % 251).astype(np.uint8).reshape(60, 80, 3)
    here = corrupt(img, np.zeros((60, 80), np.int64), "impulse_noise", 4, 7, "Seq05VD_f00030")[0]
    assert hashlib.sha256(here.tobytes()).hexdigest() == _digest_in_a_fresh_process("3").strip()


@pytest.mark.parametrize("name", PHOTOMETRIC)
def test_photometric_corruptions_never_touch_the_mask(name):
    image, mask = scene()
    before = mask.copy()
    _, out = corrupt(image, mask, name, 5, 0, "x", IGNORE)
    assert out is mask and np.array_equal(out, before)


@pytest.mark.parametrize("name", GEOMETRIC)
def test_geometric_corruptions_warp_image_and_mask_together(name):
    image, mask = checker()
    assert agreement(image, mask) == 1.0
    for severity in SEVERITIES:
        out_image, out_mask = corrupt(image, mask, name, severity, 0, "0001TP_000010", IGNORE)
        assert out_mask.dtype == mask.dtype and out_mask.shape == mask.shape
        assert set(np.unique(out_mask)) <= {A, B, IGNORE}, "nearest neighbour only: no blended labels"
        assert not np.array_equal(out_mask, mask), "the mask must move with the image"
        assert agreement(out_image, out_mask) > 0.98
    # the check has teeth: at severity 5 the warped image disagrees with the unwarped mask
    assert agreement(out_image, mask) < agreement(out_image, out_mask) == 1.0
    if name == "lens_distortion":  # barrel: the corners map from outside the frame -> void, image black
        assert out_mask[0, 0] == IGNORE and out_mask[-1, -1] == IGNORE and out_mask[90, 120] != IGNORE
        void = cv2.erode((out_mask == IGNORE).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert void.sum() > 1000 and (out_image[void] == 0).all()  # inside the void: only the fill


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_the_damage_grows_with_severity(name):
    image, mask = scene()
    diffs = [
        np.abs(corrupt(image, mask, name, s, 0, "0001TP_000010", IGNORE)[0].astype(np.float64) - image).mean()
        for s in SEVERITIES
    ]
    assert all(b > a for a, b in zip(diffs, diffs[1:])), f"{name}: {np.round(diffs, 2)}"


class WorkerOnly(Corruptor):
    """A corruptor that refuses to run on the main process: corruption belongs in the loader's workers."""

    def __call__(self, image, mask, image_name):
        assert torch.utils.data.get_worker_info() is not None, "corrupted on the main process"
        return super().__call__(image, mask, image_name)


def test_worker_count_does_not_change_a_byte_and_workers_do_the_work():
    frames = [scene(seed=s) for s in range(5)]
    names = [f"0001TP_{i:06d}" for i in range(5)]
    data = CorruptedDataset(frames, names, Corruptor("spatter", 4, 0, IGNORE))
    main = [data[i][0] for i in range(5)]
    loader = torch.utils.data.DataLoader(
        CorruptedDataset(frames, names, WorkerOnly("spatter", 4, 0, IGNORE)),
        batch_size=None,
        num_workers=2,
    )
    in_workers = [np.asarray(img) for img, _ in loader]
    assert all(np.array_equal(a, b) for a, b in zip(main, in_workers))
    assert not np.array_equal(main[0], frames[0][0])


def test_corrupt_preview_writes_a_grid(tmp_path):
    from PIL import Image

    from camseg_cli.cli import app
    from camseg_cli.core.data.sources.synthetic import write_dataset

    data = write_dataset(tmp_path / "d", "index", images=5, size=(48, 64), seed=0, classes="camvid11")
    out = tmp_path / "p.png"
    result = CliRunner().invoke(
        app, ["corrupt-preview", "--data", str(data), "--corrupt", "camera,jpeg", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert Image.open(out).size[0] > 500
    bad = CliRunner().invoke(app, ["corrupt-preview", "--data", str(data), "--corrupt", "hail"])
    assert bad.exit_code == 1 and "unknown corruption 'hail'" in bad.output


@pytest.mark.parametrize("size", [(8, 12), (33, 47)])
def test_every_corruption_runs_on_tiny_and_odd_frames(size):
    """Parameters scale with frame height: tiny frames must not push one under a transform's minimum."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    mask = rng.integers(0, 3, size).astype(np.int64)
    for name in CORRUPTIONS:
        for severity in (1, 5):
            out, out_mask = corrupt(image, mask, name, severity, 0, "x", IGNORE)
            assert out.shape == image.shape and out.dtype == np.uint8 and out_mask.shape == mask.shape
