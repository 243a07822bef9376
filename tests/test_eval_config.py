"""EvalConfig speaks evaluate_passes's keywords: a renamed or dropped keyword fails here, not in a command."""

import inspect
from pathlib import Path

import pytest

from camseg_cli.core.evaluation.scoring.config import EvalConfig
from camseg_cli.core.evaluation.scoring.evaluate import evaluate_passes, split_settings


def test_pass_kwargs_are_evaluate_passes_keywords():
    params = inspect.signature(evaluate_passes).parameters
    kwargs = EvalConfig().pass_kwargs()
    assert set(kwargs) <= set(params), set(kwargs) - set(params)
    left = set(params) - set(kwargs)
    assert left == {"ckpt_path", "track", "corruptors"}, left  # every other setting comes from the config


def test_split_args_are_split_settings_keywords():
    params = set(inspect.signature(split_settings).parameters) - {"ckpt"}
    assert set(EvalConfig().split_args()) == params


def test_values_reach_the_keywords_and_cache_lives_under_out(tmp_path):
    cfg = EvalConfig(data=tmp_path, split="val", split_by="sequence", test_sequences="Seq05VD", out=tmp_path)
    kw = cfg.pass_kwargs()
    assert (kw["data"], kw["split"], kw["split_by"], kw["test_sequences"]) == (
        tmp_path,
        "val",
        "sequence",
        "Seq05VD",
    )
    assert kw["cache_dir"] == Path(tmp_path) / "cache"
    assert cfg.replace(split="test").pass_kwargs()["split"] == "test" and cfg.split == "val"
    with pytest.raises(AttributeError):
        cfg.split = "test"  # frozen, as TrainConfig
