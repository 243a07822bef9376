"""What `camseg train` decides, now in core/train: which flags may change a resumed run, how a config
file merges under the flags, and the study loop (plan, lock, skip a locked run of a sweep)."""

from __future__ import annotations

import pytest

from camseg_cli.core.errors import CamsegError
from camseg_cli.core.train.config import TrainConfig
from camseg_cli.core.train.config_file import merge_file
from camseg_cli.core.train.lock import RunLocked, run_lock
from camseg_cli.core.train.resume import apply_overrides
from camseg_cli.core.train.sweep import Plan


def _config(tmp_path, **kw) -> TrainConfig:
    base = {"data": str(tmp_path), "out": str(tmp_path / "out"), "arch": "mobilenet_v3_large", "epochs": 3}
    return TrainConfig(**(base | kw))


def test_a_resumed_run_takes_runtime_flags_and_more_epochs_and_names_each_flag_it_ignores(tmp_path):
    saved = _config(tmp_path, lr=1e-3, weight_decay=1e-4, workers=0)
    given = _config(tmp_path, lr=5e-4, weight_decay=1e-4, workers=2, epochs=5, device="cpu")
    used, notes = apply_overrides(saved, given, explicit={"lr", "workers", "epochs", "device"})
    assert (used.lr, used.workers, used.epochs, used.device) == (1e-3, 2, 5, "cpu")
    assert notes == [f"--lr ignored: resuming {saved.run_name} with its saved lr=0.001"]
    # a flag given with the saved value, or not given at all, says nothing
    same, quiet = apply_overrides(saved, _config(tmp_path, lr=1e-3, workers=1), explicit={"lr"})
    assert quiet == [] and same.workers == 0
    with pytest.raises(CamsegError, match="can be extended, not shortened"):
        apply_overrides(saved, _config(tmp_path, epochs=2), explicit={"epochs"})


def test_a_config_file_fills_what_no_flag_gave(tmp_path):
    fields = {"lr": 5e-4, "aug": "none", "epochs": 30, "weights": "coco"}
    settings = {"lr": 1e-2, "epochs": 4, "aug": ["none", "flip"], "seeds": [0, 1]}
    merged, sweep, seeds = merge_file(settings, fields, explicit={"lr"}, sweep=False, seeds="")
    assert merged == {"lr": 5e-4, "aug": "none,flip", "epochs": 4, "weights": "coco"}
    assert sweep is True and seeds == "0,1"
    # flags win: --sweep and --seeds given on the command line keep their values
    _, sweep, seeds = merge_file({"sweep": True, "seeds": [3]}, fields, {"sweep", "seeds"}, False, "7")
    assert (sweep, seeds) == (False, "7")


def test_the_study_loop_skips_a_locked_run_of_a_sweep_and_says_so(tmp_path, monkeypatch):
    from camseg_cli.core.train import launch

    configs = [_config(tmp_path, run=f"r{i}") for i in range(3)]
    trained, notes = [], []
    monkeypatch.setattr(
        launch, "plan_run", lambda c, *a: Plan(c, "skip" if c.run == "r2" else "train", "why")
    )
    monkeypatch.setattr(launch, "fit", lambda c, *a, **k: trained.append(c.run) or c.run)
    with run_lock(configs[0].run_dir):  # another trainer holds r0
        outcome = launch.train_study(configs, resume=False, force=False, note=lambda *m: notes.append(m))
    assert trained == ["r1"] and outcome.results == ["r1"] and outcome.locked == ["r0"]
    kinds = [k for k, _ in notes]
    assert kinds == ["locked", "plan", "skip"], notes
    assert "already being trained" in notes[0][1] and notes[2][1] == "r2: why"
    with run_lock(configs[0].run_dir), pytest.raises(RunLocked):  # one run: the lock is the error
        launch.train_study(configs[:1], resume=False, force=False, note=lambda *m: None)
