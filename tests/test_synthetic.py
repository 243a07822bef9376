"""The built-in synthetic dataset: exact read-back in every layout, determinism, looks, CLI, sizes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.data.sources.layouts import open_dataset
from camseg_cli.core.data.sources.samples import read_sample
from camseg_cli.core.data.sources.scene import DARK_FRACTION, LUMA, ROLES
from camseg_cli.core.data.sources.synthetic import (
    frame_name,
    is_dark,
    render_scene,
    role_classes,
    split_counts,
    write_dataset,
)
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.sizes import parse_size

SIZE = (64, 96)
runner = CliRunner()


def _render(seed: int, i: int, classes: str = "camvid32", size=SIZE):
    return render_scene(np.random.default_rng([seed, i]), size, preset(classes), is_dark(seed, i))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "layout,classes",
    [
        ("rgb", "camvid32"),
        ("index", "camvid32"),
        ("fastai", "camvid32"),
        ("index", "camvid11"),
        ("fastai", "camvid11"),
        ("rgb", "camvid11"),
    ],  # fmt: skip
)
def test_layout_reads_back_exactly_what_render_scene_returns(tmp_path: Path, layout: str, classes: str):
    root = write_dataset(tmp_path / "d", layout=layout, images=6, size=SIZE, seed=3, classes=classes)
    info = open_dataset(root)  # layout detected from the folder, as a user would open it
    assert info.layout == layout and info.classes.names == preset(classes).names
    index = {frame_name(i): i for i in range(6)}
    seen = []
    for split, n in split_counts(6).items():
        refs = info.samples(split)
        assert len(refs) == n
        for ref in refs:
            image, mask = read_sample(ref, info.classes)
            want_image, want_mask = _render(3, index[ref.name], classes)
            np.testing.assert_array_equal(image, want_image)
            np.testing.assert_array_equal(mask, want_mask)
            seen.append(ref.name)
    assert sorted(seen) == sorted(index)


def test_splits_are_contiguous_runs_and_each_gets_an_image():
    assert split_counts(3) == {"train": 1, "val": 1, "test": 1}
    assert split_counts(24) == {"train": 14, "val": 5, "test": 5}
    assert split_counts(4, (0.9, 0.05, 0.05)) == {"train": 2, "val": 1, "test": 1}
    for bad in (0, 2):
        with pytest.raises(CamsegError, match="at least 3"):
            split_counts(bad)
    with pytest.raises(CamsegError, match="split"):
        split_counts(10, (0.5, -0.1, 0.6))


def test_same_seed_same_bytes_other_seed_other_images(tmp_path: Path):
    a = _files(write_dataset(tmp_path / "a", images=4, size=SIZE, seed=7))
    b = _files(write_dataset(tmp_path / "b", images=4, size=SIZE, seed=7))
    c = _files(write_dataset(tmp_path / "c", images=4, size=SIZE, seed=8))
    assert a == b
    assert a.keys() == c.keys()
    images = [k for k in a if k.startswith(("train/", "val/", "test/"))]
    assert images and all(a[k] != c[k] for k in images)


def test_worker_processes_write_the_same_bytes_and_report_every_frame(tmp_path: Path):
    seen: list[str] = []

    def track(frames, what):
        for f in frames:
            seen.append(what)
            yield f

    args = {"layout": "index", "images": 5, "size": SIZE, "seed": 3}
    one = _files(write_dataset(tmp_path / "one", **args, workers=1))
    two = _files(write_dataset(tmp_path / "two", **args, workers=2, track=track))
    assert one == two and seen == ["synth"] * 5


def test_a_frame_does_not_depend_on_how_many_are_written(tmp_path: Path):
    few = _files(write_dataset(tmp_path / "few", layout="fastai", images=3, size=SIZE, seed=1))
    many = _files(write_dataset(tmp_path / "many", layout="fastai", images=9, size=SIZE, seed=1))
    shared = [k for k in few if k.startswith(("images/", "labels/"))]
    assert len(shared) == 6 and all(few[k] == many[k] for k in shared)


def test_names_look_like_camvid_and_runs_share_a_sequence():
    names = [frame_name(i) for i in range(40)]
    assert len(set(names)) == 40
    assert names[:2] == ["0001TP_006690", "0001TP_006720"]
    pattern = re.compile(r"(0001TP_\d{6}|0006R0_f\d{5}|0016E5_\d{5}|Seq05VD_f\d{5})")
    assert all(pattern.fullmatch(n) for n in names)
    prefixes = [n.split("_")[0] for n in names]
    assert len(set(prefixes[:4])) == 1 and prefixes[3] != prefixes[4]
    assert len(set(prefixes[:12])) == 3  # even a tiny dataset spans several sequences


def test_dark_frames_are_rare_and_dark_day_frames_are_not():
    flags = [is_dark(0, i) for i in range(200)]
    assert abs(sum(flags) / 200 - DARK_FRACTION) < 0.02
    assert any(flags[:7])  # every run of 7 frames holds a dark one
    for i in range(14):
        image, _ = _render(0, i)
        luma = float((image.reshape(-1, 3) @ LUMA).mean())
        assert luma < 32 if flags[i] else luma > 60, (i, luma)


def test_scenes_hold_several_classes_and_every_role_shows_up():
    cm = preset("camvid32")
    union: set[int] = set()
    for i in range(30):
        _, mask = _render(2, i)
        present = set(np.unique(mask).tolist())
        assert len(present) >= 6
        assert {cm.names.index(n) for n in ("Sky", "Building", "Road", "Sidewalk")} <= present
        union |= present
    assert {cm.names[i] for i in union} == {names[0] for names in ROLES.values()}


def test_camvid11_roles_map_onto_segnet_names():
    cm = preset("camvid11")
    got = dict(zip(ROLES, (cm.names[i] for i in role_classes(cm))))
    assert got["lane"] == "Road" and got["sidewalk"] == "Pavement" and got["pole"] == "Pole"
    assert got["light"] == "SignSymbol" and got["void"] == "Void"
    _, mask = _render(0, 0, "camvid11")
    assert mask.dtype == np.int64 and mask.max() < 12


def test_learnable_from_colour_and_position_alone():
    """A lookup table (quantised exposure-normalised colour x row band -> majority class) fitted on 40
    frames beats the majority class by far on 10 others: appearance carries the class."""
    cm = preset("camvid11")
    k, q, bands = cm.num_classes, 8, 8

    def cells(image: np.ndarray) -> np.ndarray:
        f = image.astype(np.float32) / (image.mean((0, 1)) + 1.0) * 100
        c = np.clip(f * q / 256, 0, q - 1).astype(np.int64)
        row = np.arange(image.shape[0])[:, None] * bands // image.shape[0]
        return ((c[..., 0] * q + c[..., 1]) * q + c[..., 2]) * bands + row

    frames = [_render(0, i, "camvid11") for i in range(50)]
    counts = np.zeros((q**3 * bands, k), np.int64)
    for image, mask in frames[:40]:
        keep = mask != cm.void
        np.add.at(counts, (cells(image)[keep], mask[keep]), 1)
    table = counts.argmax(1)
    cmx = np.zeros((k, k), np.int64)
    for image, mask in frames[40:]:
        keep = mask != cm.void
        np.add.at(cmx, (mask[keep], table[cells(image)[keep]]), 1)
    accuracy, majority = np.trace(cmx) / cmx.sum(), cmx.sum(1).max() / cmx.sum()
    iou = np.diag(cmx) / np.maximum(cmx.sum(0) + cmx.sum(1) - np.diag(cmx), 1)
    assert accuracy > 0.75 and majority < 0.5  # measured 0.87 vs 0.36
    assert iou[cmx.sum(1) > 0].mean() > 0.3  # measured 0.39; chance is about 0.05


def test_tiny_images_are_refused_before_anything_is_written(tmp_path: Path):
    with pytest.raises(CamsegError, match="too small"):
        render_scene(np.random.default_rng(0), (4, 4), preset("camvid32"))
    with pytest.raises(CamsegError, match="too small"):
        write_dataset(tmp_path / "d", size=(4, 64))
    assert not (tmp_path / "d").exists()


def test_refuses_a_foreign_folder_and_replaces_its_own(tmp_path: Path):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(CamsegError, match="not empty"):
        write_dataset(foreign, images=3, size=SIZE)
    assert _files(foreign) == {"holiday.jpg": b"x"}
    (foreign / "camseg-synthetic.json").write_text('{"format": "camseg-synthetic", "files": "holiday.jpg"}')
    with pytest.raises(CamsegError, match="not empty"):  # a malformed marker claims nothing
        write_dataset(foreign, images=3, size=SIZE)
    assert (foreign / "holiday.jpg").exists()
    root = write_dataset(tmp_path / "d", layout="rgb", images=6, size=SIZE)
    write_dataset(root, layout="index", images=3, size=SIZE)  # ours: old rgb files go
    assert open_dataset(root).layout == "index"
    assert not (root / "train_labels").exists()
    assert sum(1 for k in _files(root) if k.endswith(".png")) == 6


def test_interrupted_write_leaves_no_half_image(tmp_path: Path, monkeypatch):
    def broken_save(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        write_dataset(tmp_path / "d", images=3, size=SIZE)
    assert not [p for p in (tmp_path / "d").rglob("*") if p.suffix in (".png", ".tmp")]


def test_cli_writes_a_dataset(tmp_path: Path):
    dest = tmp_path / "synth"
    res = runner.invoke(app, ["synth", str(dest), "--layout", "index", "--images", "5", "--size", "32x48"])
    assert res.exit_code == 0, res.output
    assert "wrote 5" in res.output and "train 3, val 1, test 1" in res.output
    info = open_dataset(dest)
    image, mask = read_sample(info.samples("val")[0], info.classes)
    assert image.shape == (32, 48, 3) and mask.shape == (32, 48)


@pytest.mark.parametrize(
    "args",
    [["--size", "0x0"], ["--size", "abc"], ["--layout", "coco"], ["--images", "2"], ["--workers", "0"]],
)
def test_cli_bad_input_is_one_error_line(tmp_path: Path, args: list[str]):
    res = runner.invoke(app, ["synth", str(tmp_path / "d"), *args])
    assert res.exit_code == 1
    assert res.output.startswith("error:") and res.output.count("\n") == 1 and "Traceback" not in res.output


@pytest.mark.parametrize(
    "text,size", [("180x240", (180, 240)), ("64X96", (64, 96)), (" 32 x 48 ", (32, 48)), ("128", (128, 128))]
)
def test_parse_size(text: str, size: tuple[int, int]):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["0x0", "abc", "-5x10", "10x-5", "10x", "x10", "1.5x2", "", "99999x1"])
def test_parse_size_rejects(text: str):
    with pytest.raises(CamsegError, match="size"):
        parse_size(text)
