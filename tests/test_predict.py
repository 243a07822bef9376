"""`camseg predict`: files written at input size, colours, argmax equality, same matrix as evaluate."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.classes.labels import decode_rgb_mask
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.scoring.evaluate import evaluate_checkpoint
from camseg_cli.core.evaluation.scoring.metrics import ConfusionMatrix
from camseg_cli.core.model.checkpoint import load_checkpoint, model_from_checkpoint
from camseg_cli.core.model.device import default_batch_size
from camseg_cli.core.model.predict import blend, collect_inputs
from tests.conftest import random_samples, write_layout
from tests.test_evaluate import SIZE, tiny_checkpoint, with_void

runner = CliRunner()
CMAP = preset("camvid11")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    data = write_layout(
        root / "data", "rgb", {"test": with_void(random_samples(CMAP, 4, SIZE, seed=5, used=8))}, CMAP
    )
    # inputs of other sizes than the model's 64x96, in a sub-folder, plus one that is not an image
    rng = np.random.default_rng(0)
    for name, (h, w) in {"wide": (50, 130), "sub/tall": (90, 40)}.items():
        (root / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / "in" / f"{name}.jpg")
    (root / "in" / "notes.txt").write_text("not an image")
    return {"data": data, "ckpt": tiny_checkpoint(root / "tiny.pt", data, CMAP), "root": root}


def direct_argmax(ckpt_path, image: np.ndarray, tta: bool = False) -> np.ndarray:
    """The model run by hand: resize, normalise, forward, logits resized to the image, argmax."""
    ckpt = load_checkpoint(ckpt_path)
    model = model_from_checkpoint(ckpt, "cpu")
    h, w = ckpt["image_size"]
    x = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    mean, std = (np.array(ckpt["normalization"][k], dtype=np.float32) for k in ("mean", "std"))
    x = torch.from_numpy((x - mean) / std).permute(2, 0, 1)[None]
    with torch.no_grad():
        logits = model(x)["out"]
        if tta:
            logits = (logits + model(x.flip(-1))["out"].flip(-1)) / 2
    logits = F.interpolate(logits, size=image.shape[:2], mode="bilinear", align_corners=False)
    return logits.argmax(1)[0].numpy()


def test_predict_writes_three_files_at_input_size(run, tmp_path):
    res = runner.invoke(
        app,
        ["predict", str(run["ckpt"]), str(run["root"] / "in"), "--out", str(tmp_path), "--batch-size", "1"],
    )
    assert res.exit_code == 0, res.output
    assert "2 images" in res.stdout and "images/s" in res.stdout
    for name in ("wide", "sub/tall"):
        image = np.asarray(Image.open(run["root"] / "in" / f"{name}.jpg").convert("RGB"))
        index_img = Image.open(tmp_path / f"{name}_index.png")
        assert index_img.mode == "L" and index_img.size == (image.shape[1], image.shape[0])
        index = np.asarray(index_img)
        assert len(np.unique(index)) > 1  # a model that predicts one class everywhere would prove little
        np.testing.assert_array_equal(index, direct_argmax(run["ckpt"], image))
        color = np.asarray(Image.open(tmp_path / f"{name}_color.png"))
        np.testing.assert_array_equal(color, CMAP.palette()[index])
        np.testing.assert_array_equal(decode_rgb_mask(color, CMAP), index)  # colours are the class map's
        overlay = np.asarray(Image.open(tmp_path / f"{name}_overlay.png"))
        np.testing.assert_array_equal(overlay, blend(image, color, 0.5))
    assert not list(tmp_path.glob("notes*"))


def test_index_png_gives_evaluates_confusion_matrix(run, tmp_path):
    result = evaluate_checkpoint(run["ckpt"], split="test", batch_size=2, device="cpu", bootstrap=0)
    res = runner.invoke(
        app,
        [
            "predict",
            str(run["ckpt"]),
            str(run["data"] / "test"),
            "--out",
            str(tmp_path),
            "-b",
            "2",
            "--save",
            "index",
        ],
    )
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}_index.png" for n in result.image_names)
    cm = ConfusionMatrix(CMAP.num_classes, CMAP.ignore_index)
    for name in result.image_names:
        pred = np.asarray(Image.open(tmp_path / f"{name}_index.png")).astype(np.int64)
        label = decode_rgb_mask(np.asarray(Image.open(run["data"] / "test_labels" / f"{name}_L.png")), CMAP)
        cm.update(torch.from_numpy(pred), torch.from_numpy(label))
    np.testing.assert_array_equal(cm.per_image().numpy(), result.per_image)


def test_tta_averages_the_mirrored_prediction(run, tmp_path):
    wide = run["root"] / "in" / "wide.jpg"
    args = [
        "predict",
        str(run["ckpt"]),
        str(wide),
        "--tta",
        "--save",
        "index",
        "-b",
        "1",
        "--out",
        str(tmp_path),
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    image = np.asarray(Image.open(run["root"] / "in" / "wide.jpg").convert("RGB"))
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "wide_index.png")), direct_argmax(run["ckpt"], image, tta=True)
    )


def test_unreadable_inputs_are_listed_skipped_and_fail_the_exit_code(run, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    out = tmp_path / "out"
    args = [
        "predict",
        str(run["ckpt"]),
        str(bad),
        str(run["root"] / "in" / "*.jpg"),
        str(tmp_path / "nope.png"),
    ]
    res = runner.invoke(app, args + ["--out", str(out), "--save", "color"])
    assert res.exit_code == 1
    assert "broken.png" in res.output and "nope.png" in res.output and "2 failed" in res.stdout
    assert sorted(p.name for p in out.iterdir()) == ["legend.png", "wide_color.png"]


def test_default_out_folder_is_per_run(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(
        app, ["predict", str(run["ckpt"]), str(run["root"] / "in" / "wide.jpg"), "--save", "index"]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "predictions" / "tiny" / "wide_index.png").is_file()


def test_bad_options_are_one_line_errors(run, tmp_path):
    for extra in (["--save", "index,mask"], ["--alpha", "2"], ["--batch-size", "0"]):
        res = runner.invoke(
            app, ["predict", str(run["ckpt"]), str(run["root"] / "in"), "--out", str(tmp_path), *extra]
        )
        assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1, res.output


def test_collect_inputs(tmp_path):
    for rel in ("a.png", "d/b.JPG", "d/e/c.png", "d/skip.txt", "x/a.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found, problems, skipped = collect_inputs(
        [tmp_path / "d", str(tmp_path / "*.png"), tmp_path / "a.png", tmp_path / "zz"]
    )
    assert [name for _, name in found] == ["b", "e/c", "a"]  # folder keeps sub-folders; a.png once
    assert problems == [(str(tmp_path / "zz"), "no such file or folder")]
    assert skipped == [(str(tmp_path / "d" / "skip.txt"), "not an image format Pillow reads")]
    _, problems, _ = collect_inputs([str(tmp_path / "*.gif")])
    assert problems[0][1] == "pattern matches no images"
    with pytest.raises(CamsegError, match="would both write a_"):
        collect_inputs([tmp_path / "a.png", tmp_path / "x" / "a.png"])


def test_default_batch_size_follows_the_device():
    # CPU forwards run faster per image one at a time (benchmarks/NOTES.md); GPUs want batches
    assert default_batch_size(torch.device("cpu")) == 1
    assert default_batch_size(torch.device("cuda", 0)) == 4
