"""Public CamVid layouts read right: fastai valid.txt, SegNet split lists, the original release."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from camseg_cli.core.data.classes.maps import CAMVID32, preset
from camseg_cli.core.data.sources.layouts import detect_layout, open_dataset
from camseg_cli.core.data.sources.samples import read_sample
from camseg_cli.core.data.sources.splits import sequences_by_split
from camseg_cli.core.errors import CamsegError
from tests.conftest import random_samples, write_layout

SEQS = ("0001TP_006690", "0001TP_006720", "0006R0_f00930", "0016E5_07959", "0016E5_07989", "Seq05VD_f00000")


def _named(classes, names, seed=0, used=None):
    """random_samples renamed to CamVid frame names."""
    return [
        (n, im, m) for n, (_, im, m) in zip(names, random_samples(classes, len(names), seed=seed, used=used))
    ]


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


# ------------------------------------------------------------------------------------------ fastai


def test_fastai_valid_txt_is_val_and_test_is_optional(tmp_path: Path):
    cm = preset("camvid32")
    train, val = _named(cm, SEQS[:4]), _named(cm, SEQS[4:], seed=1)
    root = write_layout(tmp_path / "camvid", "fastai", {"train": train, "val": val}, cm)
    assert not (root / "test.txt").exists()
    info = open_dataset(root)
    assert info.layout == "fastai" and info.classes.num_classes == 32
    assert [r.name for r in info.splits["val"]] == list(SEQS[4:])
    assert sorted(r.name for r in info.splits["train"]) == sorted(SEQS[:4])
    assert info.splits["test"] == [] and list(info.splits) == ["train", "val", "test"]
    with pytest.raises(CamsegError, match="split 'test' is empty"):
        info.samples("test")
    by_seq = open_dataset(root, split_by="sequence")
    assert set(sequences_by_split(by_seq)["test"]) == {"Seq05VD"}


def test_fastai_valid_txt_naming_a_missing_image_is_an_error(tmp_path: Path):
    cm = preset("camvid32")
    root = write_layout(tmp_path / "camvid", "fastai", {"train": _named(cm, SEQS[:2])}, cm)
    (root / "valid.txt").write_text("0001TP_006690.png\n0016E5_99999.png\n")
    with pytest.raises(CamsegError, match=r"valid\.txt: lists '0016E5_99999'"):
        open_dataset(root)


# ------------------------------------------------------------------------------------------ SegNet


def _segnet(root: Path) -> Path:
    cm = preset("camvid11")
    splits = {"train": _named(cm, SEQS[:4]), "val": _named(cm, SEQS[4:5], 1), "test": _named(cm, SEQS[5:], 2)}
    return write_layout(root, "index", splits, cm)


def _segnet_line(split: str, name: str) -> str:
    return f"/SegNet/CamVid/{split}/{name}.png /SegNet/CamVid/{split}annot/{name}.png\n"


def test_segnet_lists_with_authors_paths_are_honoured(tmp_path: Path):
    root = _segnet(tmp_path / "CamVid")
    # train.txt leaves out one frame; val.txt also takes a frame from the train/ folder
    (root / "train.txt").write_text("".join(_segnet_line("train", n) for n in SEQS[:2]))
    (root / "val.txt").write_text(_segnet_line("val", SEQS[4]) + _segnet_line("train", SEQS[3]))
    info = open_dataset(root)
    assert info.layout == "index" and info.classes == preset("camvid11")
    assert [r.name for r in info.splits["train"]] == list(SEQS[:2])
    assert [r.name for r in info.splits["val"]] == [SEQS[4], SEQS[3]]
    assert info.splits["val"][1].mask == root / "trainannot" / f"{SEQS[3]}.png"
    assert [r.name for r in info.splits["test"]] == [SEQS[5]]  # no test.txt: the folder decides
    image, mask = read_sample(info.splits["val"][0], info.classes)
    assert image.shape[:2] == mask.shape and mask.max() < 12


def test_segnet_list_of_images_only_and_a_missing_file(tmp_path: Path):
    root = _segnet(tmp_path / "CamVid")
    (root / "test.txt").write_text(f"test/{SEQS[5]}.png\n")
    assert open_dataset(root).splits["test"][0].mask == root / "testannot" / f"{SEQS[5]}.png"
    (root / "test.txt").write_text(_segnet_line("test", "0001TP_000000"))
    with pytest.raises(CamsegError, match=r"test\.txt: lists test/0001TP_000000\.png, not found"):
        open_dataset(root)
    (root / "test.txt").write_text("a b c\n")
    with pytest.raises(CamsegError, match="line 1: expected 'IMAGE"):
        open_dataset(root)


# ---------------------------------------------------------------------------------- original CamVid


def _original(root: Path, names=SEQS, label_colors: bool = True) -> tuple[Path, dict]:
    cm = preset("camvid32")
    items = _named(cm, list(names), used=8)
    for name, image, mask in items:
        _png(root / "701_StillsRaw_full" / f"{name}.png", image)
        _png(root / "LabeledApproved_full" / f"{name}_L.png", cm.palette()[mask])
    if label_colors:  # the release's format: 'R G B<tab>Name'
        text = "".join(f"{r} {g} {b}\t\t{n}\n" for n, (r, g, b) in CAMVID32)
        (root / "label_colors.txt").write_text(text)
    return root, {n: (im, m) for n, im, m in items}


def test_original_release_is_detected_decoded_and_split_by_sequence(tmp_path: Path):
    root, items = _original(tmp_path / "CamVid")
    assert detect_layout(root) == "original"
    info = open_dataset(root)
    assert info.layout == "original" and info.classes.names == preset("camvid32").names
    assert info.classes.void_name == "Void"
    seqs = {s: set(q) for s, q in sequences_by_split(info).items()}
    assert seqs == {"train": {"0001TP", "0016E5"}, "val": {"0006R0"}, "test": {"Seq05VD"}}
    for ref in (r for refs in info.splits.values() for r in refs):
        image, mask = read_sample(ref, info.classes)
        np.testing.assert_array_equal(image, items[ref.name][0])
        np.testing.assert_array_equal(mask, items[ref.name][1])
    assert open_dataset(root, layout="original").splits == info.splits


def test_original_release_without_label_colors_uses_camvid32(tmp_path: Path):
    root, _ = _original(tmp_path / "CamVid", label_colors=False)
    assert open_dataset(root).classes == preset("camvid32")


def test_original_release_honours_segnet_lists_by_file_name(tmp_path: Path):
    root, _ = _original(tmp_path / "CamVid")
    (root / "val.txt").write_text(_segnet_line("val", SEQS[0]))
    (root / "test.txt").write_text(_segnet_line("test", SEQS[5]) + _segnet_line("test", SEQS[2]))
    info = open_dataset(root)
    assert [r.name for r in info.splits["val"]] == [SEQS[0]]
    assert [r.name for r in info.splits["test"]] == [SEQS[5], SEQS[2]]
    assert [r.name for r in info.splits["train"]] == [SEQS[1], SEQS[3], SEQS[4]]  # the rest
    (root / "val.txt").write_text(_segnet_line("val", "0001TP_000000"))
    with pytest.raises(CamsegError, match=r"val\.txt: lists '0001TP_000000'"):
        open_dataset(root)


def test_original_release_missing_label_is_named(tmp_path: Path):
    root, _ = _original(tmp_path / "CamVid")
    (root / "LabeledApproved_full" / f"{SEQS[1]}_L.png").unlink()
    with pytest.raises(CamsegError, match=f"no mask {SEQS[1]}_L.png"):
        open_dataset(root)
