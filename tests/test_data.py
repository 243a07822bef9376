from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from camseg_cli.core.data.classes.labels import decode_rgb_mask, encode_rgb_mask
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.data.sources.layouts import SegDataset, detect_layout, open_dataset
from camseg_cli.core.data.sources.samples import read_sample
from camseg_cli.core.errors import CamsegError
from tests.conftest import random_samples, write_layout


@pytest.fixture(params=["rgb", "index", "fastai"])
def layout(request) -> str:
    return request.param


def _splits(classes, sizes=(3, 2, 2)):
    return {
        s: random_samples(classes, n, seed=i) for i, (s, n) in enumerate(zip(("train", "val", "test"), sizes))
    }


def test_each_layout_reads_back_exactly_what_was_written(tmp_path: Path, layout: str, camvid32):
    splits = _splits(camvid32)
    root = write_layout(tmp_path / layout, layout, splits, camvid32)
    info = open_dataset(root)
    assert info.layout == detect_layout(root) == layout
    assert info.classes.names == camvid32.names
    for split, items in splits.items():
        refs = info.samples(split)
        assert [r.name for r in refs] == sorted(n for n, _, _ in items)
        by_name = {n: (im, m) for n, im, m in items}
        for ref in refs:
            image, mask = read_sample(ref, info.classes)
            assert image.dtype == np.uint8 and mask.dtype == np.int64
            np.testing.assert_array_equal(image, by_name[ref.name][0])
            np.testing.assert_array_equal(mask, by_name[ref.name][1])


def test_camvid11_index_layout_without_class_file(tmp_path: Path):
    cm = preset("camvid11")
    root = write_layout(tmp_path / "segnet", "index", _splits(cm), cm)
    assert not (root / "class_dict.csv").exists()
    info = open_dataset(root)
    assert info.classes == cm and info.layout == "index"


def test_layout_can_be_forced_and_unknown_layout_is_an_error(tmp_path: Path, camvid32):
    root = write_layout(tmp_path / "d", "rgb", _splits(camvid32), camvid32)
    assert open_dataset(root, layout="rgb").layout == "rgb"
    with pytest.raises(CamsegError, match="unknown layout"):
        open_dataset(root, layout="coco")
    with pytest.raises(CamsegError, match="no known dataset layout"):
        detect_layout(tmp_path)


def test_rgb_decoding_matches_independent_per_pixel_lookup(camvid32):
    rng = np.random.default_rng(3)
    mask = rng.integers(0, 32, size=(37, 53))
    rgb = encode_rgb_mask(mask, camvid32)
    colour_to_index = {c: i for i, c in enumerate(camvid32.colors)}
    expected = np.array([[colour_to_index[tuple(int(v) for v in px)] for px in row] for row in rgb])
    np.testing.assert_array_equal(decode_rgb_mask(rgb, camvid32), expected)


def test_unknown_colour_names_file_value_and_pixel_count(tmp_path: Path, camvid32):
    root = write_layout(tmp_path / "d", "rgb", _splits(camvid32), camvid32)
    info = open_dataset(root)
    ref = info.samples("train")[0]
    rgb = np.asarray(Image.open(ref.mask).convert("RGB")).copy()
    rgb[:2, :5] = (1, 2, 3)
    Image.fromarray(rgb).save(ref.mask)
    with pytest.raises(CamsegError) as e:
        read_sample(ref, info.classes)
    msg = str(e.value)
    assert str(ref.mask) in msg and "(1, 2, 3)" in msg and "10 pixels" in msg


def test_unknown_index_names_value_and_count(tmp_path: Path):
    cm = preset("camvid11")
    root = write_layout(tmp_path / "d", "index", _splits(cm), cm)
    info = open_dataset(root)
    ref = info.samples("val")[0]
    m = np.asarray(Image.open(ref.mask)).copy()
    m[0, :7] = 200
    Image.fromarray(m).save(ref.mask)
    with pytest.raises(CamsegError, match=r"class index 200 on 7 pixels"):
        read_sample(ref, info.classes)


def test_size_mismatch_missing_mask_and_empty_split(tmp_path: Path, camvid32):
    root = write_layout(tmp_path / "d", "rgb", _splits(camvid32), camvid32)
    info = open_dataset(root)
    ref = info.samples("train")[0]
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(ref.image)
    with pytest.raises(CamsegError, match="must match"):
        read_sample(ref, info.classes)
    extra = root / "val" / "0001TP_999999.png"
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(extra)
    with pytest.raises(CamsegError, match=r"0001TP_999999\.png: no mask 0001TP_999999_L\.png"):
        open_dataset(root)
    extra.unlink()
    for p in (root / "test").iterdir():
        p.unlink()
    with pytest.raises(CamsegError, match="split 'test' is empty"):
        open_dataset(root).samples("test")


def test_dataset_applies_transform_to_image_and_mask_together(tmp_path: Path, camvid32):
    root = write_layout(tmp_path / "d", "fastai", _splits(camvid32), camvid32)
    info = open_dataset(root)
    ds = SegDataset(info.samples("train"), info.classes, transform=lambda im, m: (im[:, ::-1], m[:, ::-1]))
    image, mask = ds[0]
    raw_image, raw_mask = read_sample(info.samples("train")[0], info.classes)
    np.testing.assert_array_equal(image, raw_image[:, ::-1])
    np.testing.assert_array_equal(mask, raw_mask[:, ::-1])
    assert len(ds) == 3
