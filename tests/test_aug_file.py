"""Issue 31: the user's own albumentations pipeline file (`A.save` format) as --aug, studied like a preset."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import yaml  # noqa: E402

from camseg_cli.cli import app  # noqa: E402
from camseg_cli.core.data.augment.pipeline_file import pipeline_transforms  # noqa: E402
from camseg_cli.core.data.augment.presets import AugSpec, TrainTransform  # noqa: E402
from camseg_cli.core.data.sources.synthetic import write_dataset  # noqa: E402
from camseg_cli.core.errors import CamsegError  # noqa: E402
from camseg_cli.core.evaluation.compare.arms import group_arms  # noqa: E402
from camseg_cli.core.model.checkpoint import load_checkpoint  # noqa: E402
from camseg_cli.core.train.config import TrainConfig  # noqa: E402
from camseg_cli.core.train.config_file import read_config_file  # noqa: E402
from camseg_cli.core.train.sweep import study_configs  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
runner = CliRunner()
ARCH = "mobilenet_v3_large"
TINY = ["--arch", ARCH, "--weights", "none", "--size", "32x48", "--batch-size", "2", "--epochs", "1"]
TINY += ["--workers", "0", "--quiet"]
VOID = 11


def _pipeline(*transforms) -> dict:
    return A.to_dict(A.Compose(list(transforms)))


def _write(path: Path, doc: dict) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(doc, indent=2))
    else:
        path.write_text(yaml.safe_dump(doc))
    return path


def _mine(tmp_path: Path, name: str = "mine.json", p: float = 0.5) -> Path:
    pipe = _pipeline(
        A.Resize(32, 48, mask_interpolation=cv2.INTER_NEAREST, p=1.0),
        A.HorizontalFlip(p=p),
        A.ColorJitter(p=0.5),
    )
    return _write(tmp_path / name, pipe)


def _config(aug: str, seed: int = 0) -> TrainConfig:
    return TrainConfig(data="d", arch=ARCH, aug=aug, seed=seed)


def _as_run(c: TrainConfig) -> SimpleNamespace:
    d = c.to_dict()
    return SimpleNamespace(name=c.run_name, aug=c.aug_display, seed=c.seed, config=d, path=Path("x.pt"))


# ----------------------------------------------------------------------------------- identity


def test_same_content_is_one_arm_an_edit_is_another_and_the_name_is_the_stem(tmp_path):
    js = _mine(tmp_path, "mine.json")
    ym = _write(tmp_path / "copy.yaml", json.loads(js.read_text()))  # same pipeline, other format/name
    a, b = _config(str(js)), _config(str(ym), seed=1)
    assert a.run_name == f"{ARCH}-mine" and b.run_name == f"{ARCH}-copy"
    assert a.aug == b.aug and a.aug_pipeline == b.aug_pipeline  # content, not path
    assert json.loads(a.aug_pipeline) == {"transform": json.loads(js.read_text())["transform"]}
    (tmp_path / "v2").mkdir()
    edited = _config(str(_mine(tmp_path / "v2", "mine.json", p=0.9)), seed=2)
    assert edited.aug != a.aug
    arms = group_arms([_as_run(a), _as_run(b), _as_run(edited), _as_run(_config("flip"))])
    assert sorted(len(x.runs) for x in arms) == [1, 1, 2]
    names = [x.name for x in arms]
    assert len(set(names)) == 3 and "flip" in names and any(n.startswith("mine") for n in names)
    # config.json round trip keeps the content and needs no file
    again = TrainConfig.from_dict(json.loads(json.dumps(a.to_dict())))
    assert again == a and again.run_name == a.run_name


def test_files_sit_in_a_sweep_beside_presets_and_in_config_files(tmp_path):
    js = _mine(tmp_path)
    runs = study_configs(_config(f"none,{js}"), sweep=True, seeds=(0, 1))
    assert [c.run_name for c in runs] == [f"{ARCH}-{a}-s{s}" for a in ("none", "mine") for s in (0, 1)]
    assert runs[0].aug_pipeline == "" and runs[2].aug_pipeline and runs[2].aug.startswith("pipeline:")
    cfg = tmp_path / "study.yaml"
    cfg.write_text(f"aug: [none, {js}]\nseeds: [0]\n")
    assert read_config_file(cfg)["aug"] == ["none", str(js)]


# ----------------------------------------------------------------------------------- refusals


def test_lambda_is_refused_and_never_called(tmp_path, monkeypatch):
    doc = _pipeline(A.HorizontalFlip(p=1.0))
    doc["transform"]["transforms"].append(
        {"__class_fullname__": "Lambda", "p": 1.0, "name": "os.system", "image": "os.system"}
    )
    path = _write(tmp_path / "evil.json", doc)
    called = []
    monkeypatch.setattr(A.Lambda, "__init__", lambda self, *a, **k: called.append(k))
    monkeypatch.setattr(A.Lambda, "apply", lambda self, *a, **k: called.append(a))
    with pytest.raises(CamsegError, match=r"evil\.json.*Lambda"):
        _config(str(path))
    assert called == []


def test_a_transform_without_p_is_refused(tmp_path):
    doc = _pipeline(A.HorizontalFlip(p=1.0), A.ColorJitter(p=1.0))
    del doc["transform"]["transforms"][1]["p"]
    with pytest.raises(CamsegError, match=r"nop\.json.*ColorJitter.*\bp\b"):
        _config(str(_write(tmp_path / "nop.json", doc)))


def test_mask_interpolation_and_mask_value_changes_are_refused(tmp_path):
    smooth = _pipeline(A.Resize(32, 48, mask_interpolation=cv2.INTER_LINEAR, p=1.0))
    with pytest.raises(CamsegError, match=r"smooth\.json.*Resize.*mask_interpolation"):
        _config(str(_write(tmp_path / "smooth.json", smooth)))
    drop = _pipeline(A.MaskDropout(max_objects=1, p=1.0))
    with pytest.raises(CamsegError, match=r"drop\.json.*MaskDropout.*mask"):
        _config(str(_write(tmp_path / "drop.json", drop)))


def test_an_unknown_transform_gets_the_nearest_name(tmp_path):
    doc = _pipeline(A.HorizontalFlip(p=1.0))
    doc["transform"]["transforms"][0]["__class_fullname__"] = "HorizontalFlp"
    with pytest.raises(CamsegError, match=r"typo\.json.*HorizontalFlp.*did you mean HorizontalFlip"):
        _config(str(_write(tmp_path / "typo.json", doc)))


def test_a_wrong_parameter_type_is_one_line(tmp_path):
    doc = _pipeline(A.Resize(32, 48, p=1.0))
    doc["transform"]["transforms"][0]["height"] = "tall"
    with pytest.raises(CamsegError, match=r"types\.json.*Resize") as e:
        _config(str(_write(tmp_path / "types.json", doc)))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("kind", ["missing", "folder", "latin1", "huge", "tag"])
def test_bad_files_are_one_line_naming_the_file(tmp_path, kind):
    path = tmp_path / "bad.yaml"
    if kind == "folder":
        path.mkdir()
    elif kind == "latin1":
        path.write_bytes("transform: caf\xe9\n".encode("latin-1"))
    elif kind == "huge":
        path.write_text("# " + "x" * (1 << 20) + "\n")
    elif kind == "tag":
        path.write_text("transform: !!python/object/apply:os.system [echo]\n")
    result = runner.invoke(app, ["augment-preview", "--aug", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    line = result.stderr.strip()
    assert "bad.yaml" in line and len(line.splitlines()) == 1, line


# ----------------------------------------------------------------------------------- mask safety


GEOMETRIC = [
    A.Resize(40, 56, mask_interpolation=cv2.INTER_NEAREST, p=1.0),
    A.RandomResizedCrop(size=(32, 48), scale=(0.3, 1.0), mask_interpolation=cv2.INTER_NEAREST, p=1.0),
    A.Affine(rotate=(-30, 30), scale=(0.7, 1.3), mask_interpolation=cv2.INTER_NEAREST, p=1.0),
    A.Perspective(scale=(0.05, 0.1), mask_interpolation=cv2.INTER_NEAREST, fill_mask=0, p=1.0),
    A.ElasticTransform(mask_interpolation=cv2.INTER_NEAREST, p=1.0),
    A.GridDistortion(mask_interpolation=cv2.INTER_NEAREST, p=1.0),
    A.Rotate(limit=40, mask_interpolation=cv2.INTER_NEAREST, p=1.0),
    A.HorizontalFlip(p=1.0),
]


@pytest.mark.parametrize("t", GEOMETRIC, ids=lambda t: type(t).__name__)
def test_a_checkerboard_mask_keeps_only_its_classes_under_every_geometric_transform(tmp_path, t):
    path = _write(tmp_path / "geo.json", _pipeline(t))
    c = _config(str(path))
    transform = TrainTransform(AugSpec((), (32, 48), VOID, 0, c.aug_pipeline))
    yy, xx = np.mgrid[:64, :96]
    mask = np.where((yy // 8 + xx // 8) % 2 == 0, 3, 7).astype(np.uint8)
    image = np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    for index in range(5):
        transform.reseed(0, index)
        _, out = transform(image, mask)
        assert out.shape == (32, 48)
        assert set(np.unique(out.numpy())) <= {3, 7, VOID}, type(t).__name__  # padding is void


def test_padding_of_a_file_is_void_whatever_fill_mask_it_says(tmp_path):
    t = A.Affine(translate_percent=(0.4, 0.4), mask_interpolation=cv2.INTER_NEAREST, fill_mask=0, p=1.0)
    built = pipeline_transforms(json.dumps(_pipeline(t)), VOID)
    assert built[0].fill_mask == VOID


# ----------------------------------------------------------------------------------- write + draws


def test_a_written_preset_gives_the_presets_samples_draw_for_draw(tmp_path):
    dest = tmp_path / "all.json"
    result = runner.invoke(app, ["augment-preview", "--aug", "all", "--size", "32x48", "--write", str(dest)])
    assert result.exit_code == 0, result.output
    c = _config(str(dest))
    assert c.run_name == f"{ARCH}-all"
    preset = TrainTransform(AugSpec(("flip", "crop", "perspective", "jitter"), (32, 48), VOID, 3))
    mine = TrainTransform(AugSpec((), (32, 48), VOID, 3, c.aug_pipeline))
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (60, 90, 3), dtype=np.uint8)
    mask = rng.integers(0, 11, (60, 90), dtype=np.uint8)
    differ = 0
    for epoch in (0, 1):
        for index in range(6):
            preset.reseed(epoch, index)
            mine.reseed(epoch, index)
            (pi, pm), (mi, mm) = preset(image, mask), mine(image, mask)
            assert (pi == mi).all() and (pm == mm).all()
            differ += int(not (pi == preset(image, mask)[0]).all())  # draws do vary
    assert differ > 0


# ----------------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("augfile")
    data = write_dataset(root / "data", "rgb", images=8, size=(32, 48), seed=0)
    js = _mine(root)
    out = root / "out"
    base = ["train", "--data", str(data), "--out", str(out), *TINY]
    results = [runner.invoke(app, [*base, "--aug", a]) for a in ("none", str(js))]
    return {"out": out, "results": results, "file": js}


def test_a_file_pipeline_trains_and_pairs_by_seed_with_a_preset(trained):
    for r in trained["results"]:
        assert r.exit_code == 0, r.output
    out = trained["out"]
    ckpt = load_checkpoint(out / f"{ARCH}-mine.pt")
    assert ckpt["aug"] == "mine"
    content = ckpt["config"]["aug_pipeline"]
    assert json.loads(content)["transform"] == json.loads(trained["file"].read_text())["transform"]
    saved = json.loads((out / "runs" / f"{ARCH}-mine" / "config.json").read_text())
    assert saved["aug_pipeline"] == content
    back = out / "runs" / f"{ARCH}-mine" / "aug.json"  # the run's pipeline, written back out
    assert TrainConfig(data="d", aug=str(back)).aug == TrainConfig.from_dict(saved).aug
    runs = []
    for name in ("none", "mine"):
        c = load_checkpoint(out / f"{ARCH}-{name}.pt")
        runs.append(
            SimpleNamespace(name=c["run"], aug=c["aug"], seed=c["seed"], config=c["config"], path=Path("."))
        )
    arms = group_arms(runs)
    assert sorted(a.name for a in arms) == ["mine", "none"] and all(a.seeds == [0] for a in arms)


def test_config_json_of_a_file_run_reruns_without_the_file(tmp_path):
    js = _mine(tmp_path)
    c = _config(str(js))
    saved = tmp_path / "config.json"
    saved.write_text(json.dumps(c.to_dict()))
    js.unlink()  # the study is reproducible from its records alone
    again = TrainConfig(**read_config_file(saved))
    assert again.aug == c.aug and again.aug_pipeline == c.aug_pipeline and again.run_name == c.run_name
    tampered = {**c.to_dict(), "aug_pipeline": c.aug_pipeline.replace('"p":0.5', '"p":0.6', 1)}
    with pytest.raises(CamsegError, match="does not match its hash"):
        TrainConfig.from_dict(tampered)


def test_augment_preview_draws_a_file_like_a_preset(trained, tmp_path):
    data = trained["out"].parent / "data"
    args = ["augment-preview", "--data", str(data), "--aug", f"flip,{trained['file']}", "--size", "32x48"]
    result = runner.invoke(app, [*args, "-n", "2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "augment-preview.png").stat().st_size > 1000
    missing = runner.invoke(app, ["train", "--data", str(data), "--aug", str(tmp_path / "no.yaml"), *TINY])
    assert missing.exit_code == 1 and "no.yaml" in missing.stderr and "Traceback" not in missing.output
