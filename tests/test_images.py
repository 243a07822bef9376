"""Images as users have them (issue 14, items 2 and 3): whatever the image library refuses is one line
naming the file; predict reads every format Pillow opens, applies EXIF orientation and scales 16-bit
greyscale, and says which files of a folder it did not read."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.data.sources.samples import MAX_PIXELS_ENV, read_image
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.model.checkpoint import build_model, make_checkpoint, save_checkpoint

runner = CliRunner()
SIZE = (32, 48)


def bomb_png(path: Path, w: int = 20000, h: int = 20000) -> Path:
    """A tiny PNG file whose header claims w x h pixels (what a decompression bomb looks like)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def one_line(result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = build_model("mobilenet_v3_large", 12, "none")
    ck = make_checkpoint(model, arch="mobilenet_v3_large", classes=preset("camvid11"), image_size=SIZE)
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "m.pt", ck)


def test_an_oversized_image_in_a_dataset_is_one_line_in_stats(tmp_path):
    root = write_dataset(tmp_path / "d", "rgb", images=8, size=SIZE, seed=0)
    bad = bomb_png(sorted((root / "train").iterdir())[0])
    line = one_line(
        runner.invoke(app, ["stats", "--data", str(root), "--out", str(tmp_path / "o")]), str(bad)
    )
    assert "too large" in line and MAX_PIXELS_ENV in line  # says how to allow it


def test_an_oversized_image_read_in_a_dataloader_worker_is_one_line(tmp_path):
    root = write_dataset(tmp_path / "d", "rgb", images=8, size=SIZE, seed=0)
    bad = bomb_png(sorted((root / "train").iterdir())[1])
    args = ["train", "--data", str(root), "--out", str(tmp_path / "o"), "--arch", "mobilenet_v3_large"]
    args += ["--weights", "none", "--size", "32x48", "--batch-size", "2", "--epochs", "1", "--workers", "2"]
    result = runner.invoke(app, [*args, "--quiet"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert str(bad) in result.stderr and "too large" in result.stderr


def test_the_pixel_limit_can_be_raised_by_a_user_who_trusts_the_file(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.fromarray(np.full((60, 50, 3), 7, np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 3000 pixels is over 2 x 1000: refused
    with pytest.raises(CamsegError, match="too large"):
        read_image(path)
    monkeypatch.setenv(MAX_PIXELS_ENV, "5000")
    assert read_image(path).shape == (60, 50, 3)


def test_predict_writes_the_good_images_lists_the_bad_one_and_exits_1(ckpt, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    bomb_png(folder / "huge.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    result = runner.invoke(app, ["predict", str(ckpt), str(folder), "--out", str(out), "--quiet"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["legend.png"] + [f"{n}_{k}.png" for n in ("a", "b") for k in ("index", "color", "overlay")]
    )
    # the legend has one swatch row (18 px) per class the written masks show
    shown = set().union(*(np.unique(np.asarray(Image.open(out / f"{n}_index.png"))) for n in ("a", "b")))
    assert Image.open(out / "legend.png").height == 18 * len(shown) + 8
    assert "huge.png" in result.stderr and "too large" in result.stderr
    assert "broken.jpg" in result.stderr and "not a readable image" in result.stderr


def test_predict_reads_every_format_pillow_opens_and_names_the_files_it_skips(ckpt, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rgb = np.random.default_rng(1).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    formats = {"p.png": "PNG", "j.jpg": "JPEG", "w.webp": "WEBP", "t.tif": "TIFF", "u.tiff": "TIFF",
               "b.bmp": "BMP"}  # fmt: skip
    for name, fmt in formats.items():
        Image.fromarray(rgb).save(folder / name, format=fmt)
    (folder / "notes.txt").write_text("not an image")
    (folder / ".DS_Store").write_bytes(b"\0")
    out = tmp_path / "out"
    result = runner.invoke(app, ["predict", str(ckpt), str(folder), "--out", str(out), "--save", "index"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{Path(n).stem}_index.png" for n in formats)
    assert "6 images" in result.stdout
    assert "notes.txt" in result.stderr and "not an image format" in result.stderr
    assert ".DS_Store" not in result.output


def test_predict_applies_exif_orientation_before_inference(ckpt, tmp_path):
    # a 40 (w) x 30 (h) photo stored sideways, with Orientation=6: a viewer shows it 30 wide, 40 high
    stored = np.random.default_rng(2).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    shown = read_image(path)
    decoded = np.asarray(Image.open(path).convert("RGB"))  # the stored pixels, orientation not applied
    assert shown.shape == (40, 30, 3)
    assert np.array_equal(shown, np.rot90(decoded, k=-1))  # Orientation 6: turn 90 degrees clockwise
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["predict", str(ckpt), str(path), "--out", str(out), "--save", "index,overlay"]
    )
    assert result.exit_code == 0, result.output
    for kind in ("index", "overlay"):
        assert Image.open(out / f"phone_{kind}.png").size == (30, 40)  # (w, h) as the viewer shows it


@pytest.mark.parametrize("mode", ["I;16", "I"])
def test_16_bit_greyscale_is_scaled_to_8_bits_not_clipped(tmp_path, mode):
    ramp = np.linspace(0, 65535, 30 * 40).round().astype(np.uint16).reshape(30, 40)
    path = tmp_path / ("deep.png" if mode == "I;16" else "deep.tif")  # PNG cannot store mode I
    img = Image.fromarray(ramp) if mode == "I;16" else Image.fromarray(ramp.astype(np.int32), mode="I")
    img.save(path)
    got = read_image(path)
    expected = np.floor(ramp.astype(np.float64) / 65535 * 255 + 0.5).astype(np.uint8)  # round half up
    assert got.shape == (30, 40, 3)
    assert np.array_equal(got[..., 0], expected) and np.array_equal(got[..., 2], expected)
    assert len(np.unique(got)) > 200  # a ramp, not a white sheet


def test_a_float_image_is_refused_clearly(tmp_path):
    path = tmp_path / "f.tif"
    Image.fromarray(np.ones((4, 5), np.float32)).save(path)
    with pytest.raises(CamsegError, match="float image"):
        read_image(path)
