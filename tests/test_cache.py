"""Sample cache: cached samples equal uncached ones exactly; stale, partial or damaged caches are rebuilt."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from camseg_cli.core.choices import RUNTIME_FIELDS
from camseg_cli.core.data.augment.presets import AugSpec, EpochDataset, TrainTransform, parse_aug
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.data.loading import cache as cache_mod
from camseg_cli.core.data.loading.cache import META, CachedDataset, fingerprint, sample_dataset
from camseg_cli.core.data.loading.tensors import EvalTransform
from camseg_cli.core.data.sources.layouts import SegDataset, open_dataset
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.train.config import TrainConfig
from tests.conftest import random_samples, write_layout


@pytest.fixture(params=["rgb", "fastai"])
def data(request, tmp_path: Path, camvid32):
    """Train samples of two sizes (the cache packs mixed sizes), in an RGB-mask or an index-mask layout."""
    train = random_samples(camvid32, 3, (24, 32), seed=1) + random_samples(camvid32, 2, (20, 36), seed=2)
    splits = {"train": train, "val": random_samples(camvid32, 2, seed=3)}
    return write_layout(tmp_path / request.param, request.param, splits, camvid32)


def _split(root: Path):
    info = open_dataset(root)
    return info.samples("train"), info.classes


def _same_items(a, b) -> None:
    assert len(a) == len(b)
    for i in range(len(a)):
        for x, y in zip(a[i], b[i]):
            assert type(x) is type(y) and x.dtype == y.dtype and x.shape == y.shape
            assert np.array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("mode", ["ram", "disk"])
def test_cached_samples_equal_uncached_exactly(data, tmp_path, mode):
    refs, classes = _split(data)
    plain = SegDataset(refs, classes)
    cached = sample_dataset(refs, classes, cache=mode, cache_dir=tmp_path / "cache")
    assert isinstance(cached, CachedDataset)
    _same_items(plain, cached)
    for _ in range(2):  # and again: a read never alters the cache
        _same_items(plain, cached)
    ev = EvalTransform((16, 24))
    _same_items(SegDataset(refs, classes, ev), sample_dataset(refs, classes, ev, mode, tmp_path / "cache"))


@pytest.mark.parametrize("mode", ["ram", "disk"])
def test_augmented_epochs_are_identical_with_and_without_cache(data, tmp_path, mode):
    refs, classes = _split(data)
    spec = AugSpec(parse_aug("all"), (16, 24), classes.ignore_index, seed=3)
    plain = EpochDataset(SegDataset(refs, classes), TrainTransform(spec))
    cached = EpochDataset(sample_dataset(refs, classes, None, mode, tmp_path / "c"), TrainTransform(spec))
    for epoch in (0, 1):
        for i in range(len(refs)):
            for x, y in zip(plain[epoch, i], cached[epoch, i]):
                assert torch.equal(x, y)


def test_cached_dataset_is_read_only(data, tmp_path):
    refs, classes = _split(data)
    for mode in ("ram", "disk"):
        image, mask = sample_dataset(refs, classes, cache=mode, cache_dir=tmp_path / "c")[0]
        with pytest.raises(ValueError):
            image[0, 0] = 1  # a transform that writes in place cannot corrupt the cache
        mask[0, 0] = 1  # the int64 mask is the caller's own copy


def test_disk_cache_is_reused_without_decoding(data, tmp_path, monkeypatch):
    refs, classes = _split(data)
    first = sample_dataset(refs, classes, cache="disk", cache_dir=tmp_path / "c")
    folders = list((tmp_path / "c").iterdir())
    assert [p.name for p in folders] == [fingerprint(refs, classes)]  # no temporary folder left behind

    def no_decoding(*_):
        raise AssertionError("a valid cache must not be rebuilt")

    monkeypatch.setattr(cache_mod, "read_sample", no_decoding)
    _same_items(first, sample_dataset(refs, classes, cache="disk", cache_dir=tmp_path / "c"))


def _rewrite_mask(ref, classes) -> None:
    """Write a different (valid) mask over the first sample's, as a user re-labelling it would."""
    mask = np.zeros(Image.open(ref.mask).size[::-1], dtype=np.int64)
    array = classes.palette()[mask] if ref.kind == "rgb" else mask.astype(np.uint8)
    Image.fromarray(array).save(ref.mask)
    st = ref.mask.stat()  # whatever the clock's resolution, the file must look changed
    os.utime(ref.mask, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_a_changed_file_invalidates_the_disk_cache(data, tmp_path):
    refs, classes = _split(data)
    old = sample_dataset(refs, classes, cache="disk", cache_dir=tmp_path / "c")
    _rewrite_mask(refs[0], classes)
    new = sample_dataset(refs, classes, cache="disk", cache_dir=tmp_path / "c")
    assert new.folder != old.folder
    assert not old.folder.exists()  # the stale cache of this split is removed, not left to pile up
    assert not np.array_equal(old[0][1], new[0][1])
    _same_items(SegDataset(refs, classes), new)


def test_a_changed_class_map_invalidates_the_disk_cache(data, tmp_path):
    refs, classes = _split(data)
    other = preset("camvid11")
    assert fingerprint(refs, classes) != fingerprint(refs, other)


@pytest.mark.parametrize("damage", ["truncate", "grow", "no_meta", "bad_meta", "other_key", "no_masks"])
def test_a_partial_or_damaged_cache_is_rebuilt_not_trusted(data, tmp_path, damage, caplog):
    refs, classes = _split(data)
    folder = sample_dataset(refs, classes, cache="disk", cache_dir=tmp_path / "c").folder
    images, meta = folder / cache_mod.IMAGES, folder / META
    if damage == "truncate":
        os.truncate(images, images.stat().st_size // 2)
    elif damage == "grow":
        with open(images, "ab") as f:
            f.write(b"\0" * 7)
    elif damage == "no_meta":
        meta.unlink()
    elif damage == "bad_meta":
        meta.write_text('{"format": "camseg-sample-cache", "vers')
    elif damage == "other_key":
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "key": "0" * 32}))
    else:
        (folder / cache_mod.MASKS).unlink()
    rebuilt = sample_dataset(refs, classes, cache="disk", cache_dir=tmp_path / "c")
    assert "rebuilding" in caplog.text
    assert rebuilt.folder == folder
    _same_items(SegDataset(refs, classes), rebuilt)


def test_disk_dataset_pickles_without_its_pixels(data, tmp_path):
    refs, classes = _split(data)
    ds = sample_dataset(refs, classes, cache="disk", cache_dir=tmp_path / "c")
    blob = pickle.dumps(ds)
    assert len(blob) < ds.packed.images.nbytes  # workers re-map the file instead of copying it
    _same_items(ds, pickle.loads(blob))


def test_a_bad_sample_is_one_error_and_leaves_no_cache(tmp_path, camvid32):
    splits = {"train": random_samples(camvid32, 3, seed=1)}
    root = write_layout(tmp_path / "d", "rgb", splits, camvid32)
    refs, classes = _split(root)
    Image.fromarray(np.full((24, 32, 3), 7, np.uint8)).save(refs[1].mask)  # a colour not in the map
    for mode in ("ram", "disk"):
        with pytest.raises(CamsegError, match=refs[1].mask.name):
            sample_dataset(refs, classes, cache=mode, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_unknown_mode_is_refused(data):
    refs, classes = _split(data)
    with pytest.raises(CamsegError, match="--cache 'gpu'"):
        sample_dataset(refs, classes, cache="gpu")
    with pytest.raises(CamsegError, match="--cache 'gpu'"):
        TrainConfig(data="d", cache="gpu")
    assert "cache" in RUNTIME_FIELDS  # a resumed run may switch caches: the samples are the same


def test_evaluate_scores_the_same_with_each_cache_and_the_cli_takes_cache(tmp_path):
    from typer.testing import CliRunner

    from camseg_cli.cli import app
    from camseg_cli.core.evaluation.scoring.evaluate import evaluate_checkpoint
    from tests.test_evaluate import SIZE, tiny_checkpoint

    cmap = preset("camvid11")
    data = write_layout(tmp_path / "d", "rgb", {"test": random_samples(cmap, 3, SIZE, used=6)}, cmap)
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt", data, cmap)
    results = [
        evaluate_checkpoint(ckpt, split="test", device="cpu", bootstrap=0, cache=c, cache_dir=tmp_path / "c")
        for c in ("none", "ram", "disk", "disk")  # the second disk run reads the cache the first wrote
    ]
    for r in results[1:]:
        assert np.array_equal(r.per_image, results[0].per_image)
    out = tmp_path / "out"
    args = [
        "evaluate",
        str(ckpt),
        "--device",
        "cpu",
        "--bootstrap",
        "0",
        "--cache",
        "disk",
        "--out",
        str(out),
    ]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert [p.name for p in (out / "cache").iterdir()] == [
        fingerprint(open_dataset(data).samples("test"), cmap)
    ]
    bad = CliRunner().invoke(app, [*args[:-4], "--cache", "gpu"])
    assert bad.exit_code == 1 and "--cache 'gpu': choose one of none, ram, disk" in bad.output


@pytest.mark.slow
def test_training_with_a_cache_gives_the_very_same_model(tmp_path):
    from typer.testing import CliRunner

    from camseg_cli.cli import app
    from camseg_cli.core.data.sources.synthetic import write_dataset

    data = write_dataset(tmp_path / "d", images=8, size=(48, 64), seed=1)  # 4 train, 2 val
    args = [
        "train",
        "--data",
        str(data),
        "--arch",
        "mobilenet_v3_large",
        "--weights",
        "none",
        "--epochs",
        "1",
    ]
    args += ["--batch-size", "2", "--size", "48x64", "--workers", "0", "--device", "cpu", "--quiet"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # bitwise-repeatable CPU kernels, and steady on a busy machine
    try:
        weights = {}
        for cache in ("none", "ram", "disk"):
            out = tmp_path / cache
            done = CliRunner().invoke(app, [*args, "--out", str(out), "--cache", cache])
            assert done.exit_code == 0, done.output
            weights[cache] = torch.load(out / "mobilenet_v3_large-none.pt", weights_only=True)["model"]
    finally:
        torch.set_num_threads(threads)
    assert len(list((tmp_path / "disk" / "cache").iterdir())) == 2  # the train and the val split
    assert not (tmp_path / "none" / "cache").exists() and not (tmp_path / "ram" / "cache").exists()
    for cache in ("ram", "disk"):
        assert all(torch.equal(weights["none"][k], v) for k, v in weights[cache].items())


@pytest.mark.parametrize("mode", ["ram", "disk"])
def test_dataloader_workers_read_the_cache(data, tmp_path, mode):
    refs, classes = _split(data)
    ds = sample_dataset(refs, classes, None, mode, tmp_path / "c")
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    for (image, mask), (x, y) in zip(loader, SegDataset(refs, classes)):
        assert np.array_equal(image.numpy(), x) and np.array_equal(mask.numpy(), y)
