"""`camseg export`: the exported model's logits match the PyTorch model's (TorchScript; ONNX if installed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.model.checkpoint import NORMALIZATION, load_checkpoint, model_from_checkpoint
from camseg_cli.core.model.export import export_checkpoint
from tests.test_evaluate import tiny_checkpoint

runner = CliRunner()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return tiny_checkpoint(root / "tiny.pt", root / "data", preset("camvid11"))


def images(*shape: int, seed: int = 1) -> torch.Tensor:
    """Random pixels normalised as camseg normalises real images."""
    mean, std = (torch.tensor(v)[:, None, None] for v in (NORMALIZATION["mean"], NORMALIZATION["std"]))
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) - mean) / std


def close(got: np.ndarray, want: np.ndarray) -> None:
    """Equal up to float32 rounding, relative to the size of the logits."""
    np.testing.assert_allclose(got, want, atol=1e-5 * max(1.0, float(np.abs(want).max())))


def reference(ckpt_path, x: torch.Tensor) -> np.ndarray:
    model = model_from_checkpoint(load_checkpoint(ckpt_path), "cpu")
    with torch.no_grad():
        return model(x)["out"].numpy()


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.load is deprecated in favour of torch.export
def test_torchscript_export_matches_pytorch(ckpt, tmp_path):
    res = runner.invoke(
        app, ["export", str(ckpt), "--format", "torchscript", "--size", "64x96", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert "verified with torch.jit.load" in res.stdout
    path = tmp_path / "export" / "tiny.torchscript.pt"
    loaded = torch.jit.load(str(path))
    x = images(2, 3, 64, 96)
    close(loaded(x).detach().numpy(), reference(ckpt, x))
    spec = json.loads((tmp_path / "export" / "tiny.torchscript.pt.json").read_text())
    assert spec["input"]["shape"] == [1, 3, 64, 96] and spec["classes"]["names"][0] == "Sky"
    assert spec["input"]["mean"] == [0.485, 0.456, 0.406]
    # handed to evaluate, the export is recognised for what it is, in one whole line
    wrong = runner.invoke(app, ["evaluate", str(path), "--out", str(tmp_path / "o")])
    assert wrong.exit_code == 1 and "Traceback" not in wrong.output
    assert "a TorchScript export (camseg export), not a training checkpoint" in wrong.stderr
    assert "the .pt that camseg train wrote" in wrong.stderr


def test_onnx_export_with_dynamic_axes_matches_pytorch(ckpt, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    result = export_checkpoint(ckpt, "onnx", tmp_path / "m.onnx", dynamic=True)
    assert result.verified_with == "onnxruntime" and result.max_abs_diff < 1e-3
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    x = images(3, 3, 80, 112, seed=2)  # not the export's shape
    (got,) = session.run(None, {"images": x.numpy()})
    close(got, reference(ckpt, x))


def test_bad_format_and_size_are_one_line_errors(ckpt, tmp_path):
    for extra in (
        ["--format", "tflite"],
        ["--format", "onnx", "--size", "64by96"],
        ["-f", "onnx", "--size", "8x8"],
    ):
        res = runner.invoke(app, ["export", str(ckpt), "--out", str(tmp_path), *extra])
        assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1, res.output
