"""Precise BatchNorm (issue 26.2): running statistics recomputed over training batches before validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.evaluation.scoring.evaluate import evaluate_checkpoint
from camseg_cli.core.train.config import AUTO_BATCHES, TrainConfig
from camseg_cli.core.train.precise_bn import batchnorms, update_bn_stats
from camseg_cli.core.train.run import fit

runner = CliRunner()
ARCH = "mobilenet_v3_large"


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.5),  # train mode keeps dropout on, as training had it
        nn.Conv2d(4, 3, 1),
        nn.BatchNorm2d(3, momentum=0.3),
    )


def test_running_stats_are_the_average_of_the_batch_statistics_and_nothing_else_changes():
    net = tiny_net().eval()
    params = {k: v.clone() for k, v in net.named_parameters()}
    counts = [bn.num_batches_tracked.clone() for bn in batchnorms(net)]
    seen: dict[nn.Module, list[torch.Tensor]] = {bn: [] for bn in batchnorms(net)}
    hooks = [bn.register_forward_pre_hook(lambda m, args: seen[m].append(args[0].detach())) for bn in seen]
    torch.manual_seed(1)
    batches = [torch.randn(3, 3, 5, 6) * 2 + 1 for _ in range(5)]
    assert update_bn_stats(net, iter(batches), 3) == 3  # only the first three batches
    for h in hooks:
        h.remove()
    for bn, inputs in seen.items():
        assert len(inputs) == 3
        # independently: each batch's per-channel mean and unbiased variance, averaged over the batches
        means = torch.stack([x.mean((0, 2, 3)) for x in inputs]).mean(0)
        vars_ = torch.stack([x.var((0, 2, 3), unbiased=True) for x in inputs]).mean(0)
        torch.testing.assert_close(bn.running_mean, means, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(bn.running_var, vars_, rtol=1e-5, atol=1e-6)
    assert [bn.momentum for bn in batchnorms(net)] == [0.1, 0.3]
    assert [bn.num_batches_tracked for bn in batchnorms(net)] == counts
    assert not net.training  # the mode it came in
    assert all(torch.equal(v, params[k]) for k, v in net.named_parameters())


def test_no_batch_keeps_the_statistics_there_were():
    net = tiny_net()
    net[1].running_mean.fill_(0.5)
    assert update_bn_stats(net, iter([]), 4) == 0
    assert torch.equal(net[1].running_mean, torch.full((4,), 0.5))
    assert update_bn_stats(net, iter([torch.randn(2, 3, 4, 4)]), 0) == 0  # 0 batches: off


def test_auto_is_on_from_scratch_and_for_short_runs_and_the_number_is_recorded():
    assert TrainConfig(data="d", weights="none", epochs=100).precise_bn == AUTO_BATCHES
    assert TrainConfig(data="d", weights="coco", epochs=5).precise_bn == AUTO_BATCHES
    assert TrainConfig(data="d", weights="coco", epochs=30).precise_bn == 0
    assert TrainConfig(data="d", weights="none", precise_bn=0).precise_bn == 0
    assert TrainConfig(data="d").to_dict()["precise_bn"] == 0  # a number in config.json, never "auto"
    assert TrainConfig.from_dict({"data": "d", "weights": "none"}).precise_bn == 0  # recorded before it


@pytest.mark.parametrize("value", ["x", "-1"])
def test_a_bad_value_is_one_line(value, tmp_path):
    res = runner.invoke(app, ["train", "--data", str(tmp_path), "--precise-bn", value])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "--precise-bn" in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_training_from_scratch_follows_its_input_and_precise_bn_moves_no_weight(tmp_path):
    """Two tiny runs from scratch, alike but for --precise-bn: training never reads the running statistics,
    so every weight ends equal; the statistics differ, and with them eval mode, which follows the image."""
    data = write_dataset(tmp_path / "data", images=16, size=(64, 96), seed=0)
    common = dict(data=str(data), arch=ARCH, weights="none", epochs=2, batch_size=4, size=(64, 96), workers=0)
    runs = {}
    for n in (0, 3):
        config = TrainConfig(out=str(tmp_path / f"pbn{n}"), precise_bn=n, **common)
        result = fit(config)
        runs[n] = torch.load(config.last_path, weights_only=True)
        saved = json.loads((config.run_dir / "config.json").read_text())
        assert saved["precise_bn"] == n and runs[n]["config"]["precise_bn"] == n
        assert all((r["precise_bn_seconds"] > 0) == (n > 0) for r in result.history)
    a, b = runs[0]["model"], runs[3]["model"]
    stats = [k for k in a if k.endswith(("running_mean", "running_var"))]
    assert all(torch.equal(a[k], b[k]) for k in a if k not in stats)
    assert sum(not torch.equal(a[k], b[k]) for k in stats) == len(stats)
    best = tmp_path / "pbn3" / f"{ARCH}-none.pt"
    result = evaluate_checkpoint(best, split="test", device="cpu", bootstrap=0)
    dep = result.dependence
    assert not dep.flagged and dep.classes_per_image_pred > 1
    assert np.isfinite(dep.gt_agreement) and dep.pred_agreement < 1.0
