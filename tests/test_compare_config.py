"""compare's config and its note for a single run, checked without torch: CompareConfig refuses bad input
before any work, and the baseline command is made from the run's own config.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.compare.config import CompareConfig
from camseg_cli.core.evaluation.compare.one_run import baseline_command, nothing_to_compare
from camseg_cli.core.evaluation.scoring.config import Corruption, EvalConfig


def _run(tmp_path: Path, config: dict | None) -> Path:
    ckpt = tmp_path / "resnet50-flip.pt"
    ckpt.write_bytes(b"")
    if config is not None:
        folder = tmp_path / "runs" / "resnet50-flip"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(config))
    return ckpt


def test_a_run_with_an_augmentation_is_told_to_train_its_baseline_from_its_own_config(tmp_path):
    ckpt = _run(tmp_path, {"aug": "flip", "run": "resnet50-flip"})
    config = tmp_path / "runs" / "resnet50-flip" / "config.json"
    said = baseline_command(ckpt)
    assert f"`camseg train --config {config} --aug none --run resnet50-none`" in said, said
    assert nothing_to_compare(ckpt) == f"nothing to compare: {ckpt} is one run — {said}, then compare both"


def test_a_baseline_run_is_told_to_train_an_augmented_arm(tmp_path):
    ckpt = _run(tmp_path, {"aug": "none", "run": "r0"})  # the aug is not in the run's name: a suffix
    said = baseline_command(ckpt)
    assert said.startswith("this run is a baseline (--aug none)") and "--aug flip --run r0-flip`" in said


@pytest.mark.parametrize("config", [None, ["not", "a", "dict"]])
def test_without_a_readable_config_the_general_recipe(tmp_path, config):
    ckpt = _run(tmp_path, config)
    said = baseline_command(ckpt)
    assert "--config" not in said and "--aug none,flip --sweep --seeds 0,1,2" in said


def test_compare_config_refuses_bad_input_before_any_work(tmp_path):
    ckpt = _run(tmp_path, None)
    good = CompareConfig((ckpt,), EvalConfig(out=tmp_path / "out"))
    assert good.check() is good and not good.under_shift
    assert good.replace(slices=("dark",)).under_shift
    assert good.replace(corruption=Corruption(("low_light",), (1,))).under_shift
    assert not good.replace(corruption=Corruption((), (), seed=3)).under_shift  # a seed alone adds nothing
    with pytest.raises(CamsegError, match="no such checkpoint"):
        good.replace(checkpoints=(tmp_path / "missing.pt",)).check()
    with pytest.raises(CamsegError, match="min"):
        good.replace(min_effect=-1.0).check()
    with pytest.raises(CamsegError, match="--split"):
        good.replace(eval=EvalConfig(split="tset", out=tmp_path / "out")).check()
