"""build_model heads and weights, the offline-download error, and the checkpoint format round trip."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch

from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.model import checkpoint as model_mod
from camseg_cli.core.model.checkpoint import (
    build_model,
    load_checkpoint,
    make_checkpoint,
    model_from_checkpoint,
    run_name,
    save_checkpoint,
)
from camseg_cli.core.model.inference import inference_model

ARCH = "mobilenet_v3_large"  # the small one: resnets build the same way, only slower


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ARCH, 12, "none", aux_loss=True).eval()


def test_heads_are_sized_for_the_class_count(net):
    with torch.no_grad():
        out = net(torch.randn(2, 3, 64, 96))
    assert out["out"].shape == (2, 12, 64, 96)
    assert out["aux"].shape == (2, 12, 64, 96)
    plain = build_model(ARCH, 5, "none", aux_loss=False)
    assert plain.aux_classifier is None
    assert plain.classifier[-1].out_channels == 5


def test_unknown_arch_and_weights_are_one_line_errors(tmp_path):
    with pytest.raises(CamsegError, match="unknown arch 'vgg'"):
        build_model("vgg", 5, "none")
    with pytest.raises(CamsegError, match="not coco, imagenet, none, nor an existing file"):
        build_model(ARCH, 5, str(tmp_path / "missing.pt"))


@pytest.mark.parametrize("weights", ["coco", "imagenet"])
def test_offline_download_names_the_file_and_the_folder(weights, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(url, *a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline)
    with pytest.raises(CamsegError) as err:
        build_model(ARCH, 12, weights)
    msg = str(err.value)
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    assert str(folder) in msg and "$TORCH_HOME/hub/checkpoints" in msg
    assert ".pth" in msg and "--weights none" in msg


def test_checkpoint_round_trip_is_plain_data(net, tmp_path):
    classes = preset("camvid11")
    ckpt = make_checkpoint(
        net, arch=ARCH, classes=classes, image_size=(64, 96), aug="flip", epoch=3, history=[{"epoch": 1}]
    )
    path = save_checkpoint(tmp_path / "run.pt", ckpt)
    raw = torch.load(path, weights_only=True)  # no unpickled objects at all
    assert raw["versions"]["torch"] == str(torch.__version__) and type(raw["versions"]["torch"]) is str
    assert raw["aux_loss"] is True and raw["aug"] == "flip" and raw["classes"]["names"][0] == "Sky"
    loaded = load_checkpoint(path)
    assert run_name(loaded) == "run"
    rebuilt = model_from_checkpoint(loaded)
    tensors = [*rebuilt.parameters(), *rebuilt.buffers()]
    assert not any(t.is_meta for t in tensors)  # built on the meta device, every tensor then assigned
    assert not rebuilt.training
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(rebuilt(x)["out"], net(x)["out"])


def test_weights_from_a_checkpoint_path(net, tmp_path):
    path = save_checkpoint(
        tmp_path / "a.pt", make_checkpoint(net, arch=ARCH, classes=preset("camvid11"), image_size=(64, 96))
    )
    same = build_model(ARCH, 12, str(path), aux_loss=True).eval()
    other_head = build_model(ARCH, 5, str(path))  # backbone fits, the 12-class head does not: skipped
    key = "backbone.0.0.weight"
    assert torch.equal(same.state_dict()[key], net.state_dict()[key])
    assert torch.equal(other_head.state_dict()[key], net.state_dict()[key])
    assert other_head.classifier[-1].out_channels == 5


def test_refuses_a_pickled_object(tmp_path):
    path = Path(tmp_path / "evil.pt")
    torch.save({"format": model_mod.FORMAT, "version": 1, "obj": object()}, path)
    with pytest.raises(CamsegError, match="refused"):
        load_checkpoint(path)


@pytest.mark.parametrize("arch", [ARCH, "resnet50"])
def test_inference_model_folds_batchnorm_without_changing_outputs(arch):
    torch.manual_seed(1)
    model = build_model(arch, 6, "none").eval()
    for m in model.modules():  # non-trivial statistics, so that a wrong fold shows in the logits
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
    bns = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    x = torch.randn(2, 3, 48, 64)
    with torch.no_grad():
        want = model(x)["out"]
        folded = inference_model(model, torch.device("cpu"))
        got = folded(x.contiguous(memory_format=torch.channels_last))["out"]
    left = sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert bns > 0 and left == 0  # every BatchNorm in DeepLabV3 follows a convolution
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == bns  # caller's untouched
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert (got.argmax(1) == want.argmax(1)).float().mean() > 0.999
