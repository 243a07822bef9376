"""Shared fixtures: tiny datasets written by hand (independently of camseg's own writers)."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from PIL import Image

from camseg_cli.core.data.classes.maps import ClassMap, preset

HERE = Path(__file__).parent
# one OpenMP thread per test process (and the CLIs it starts) unless the caller chose otherwise
os.environ.setdefault("OMP_NUM_THREADS", "1")


# How much of each simulation or property test to run: `make test` sets CAMSEG_TEST_SCALE=0.25 (the
# fast tier), `make test-all` 1 (the full counts). Unset means full counts.
TEST_SCALE = float(os.environ.get("CAMSEG_TEST_SCALE", "1"))


def scaled(n: int, least: int = 1) -> int:
    """n simulations (or examples) at full scale; a share of them in the fast tier."""
    return max(least, round(n * TEST_SCALE))


settings.register_profile("full", deadline=None)
settings.register_profile("fast", deadline=None, max_examples=scaled(100, least=10))
settings.load_profile("fast" if TEST_SCALE < 1 else "full")


def pytest_runtest_setup(item):
    """Tiny models gain nothing from intra-op threads; on a busy 2-core box spinning OpenMP threads make
    each step 10-30x slower. One thread in every test, once some test has loaded torch (never loaded
    here: a test checks that a command runs without torch)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@pytest.fixture(scope="module")
def one_thread():
    """Kept for the modules that ask for it; every test already runs on one thread."""
    import torch  # here, not at the top: a test may check that a command runs without torch loaded

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def random_samples(classes: ClassMap, n: int, size=(24, 32), seed: int = 0, used: int | None = None):
    """n (name, image, mask) triples; masks are blocky random class maps over `used` classes."""
    rng = np.random.default_rng(seed)
    h, w = size
    k = used or classes.num_classes
    out = []
    for i in range(n):
        coarse = rng.integers(0, k, size=(h // 4 + 1, w // 4 + 1))
        mask = np.kron(coarse, np.ones((4, 4), dtype=np.int64))[:h, :w]
        image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        out.append((f"0001TP_{seed:03d}{i:03d}", image, mask))
    return out


def write_layout(root: Path, layout: str, splits: dict, classes: ClassMap) -> Path:
    """Write {split: [(name, image, mask)]} in one of the three on-disk layouts, by hand."""
    root.mkdir(parents=True, exist_ok=True)
    if layout == "fastai":
        (root / "codes.txt").write_text("\n".join(classes.names) + "\n")
        for split, items in splits.items():
            for name, image, mask in items:
                _png(root / "images" / f"{name}.png", image)
                _png(root / "labels" / f"{name}_P.png", mask.astype(np.uint8))
            if split in ("val", "test"):
                fname = "valid.txt" if split == "val" else "test.txt"
                (root / fname).write_text("".join(f"{n}.png\n" for n, _, _ in items))
        return root
    lines = ["name, r, g, b"] + [
        f"{n}, {c[0]}, {c[1]}, {c[2]}" for n, c in zip(classes.names, classes.colors)
    ]
    if layout == "rgb" or classes != preset("camvid11"):
        (root / "class_dict.csv").write_text("\n".join(lines) + "\n")
    palette = np.array(classes.colors, dtype=np.uint8)
    for split, items in splits.items():
        for name, image, mask in items:
            _png(root / split / f"{name}.png", image)
            if layout == "rgb":
                _png(root / f"{split}_labels" / f"{name}_L.png", palette[mask])
            else:
                _png(root / f"{split}annot" / f"{name}.png", mask.astype(np.uint8))
    return root


@pytest.fixture
def camvid32() -> ClassMap:
    return preset("camvid32")


# ------------------------------------------------------------------------------- the shared tiny study

STUDY_ARCH = "mobilenet_v3_large"
STUDY_AUGS = ("none", "flip")
STUDY_SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class TinyStudy:
    """A finished study (2 augs x 3 seeds of 1-epoch runs) on 8 synthetic images: read it, never write.

    Tests that write (compare's reports, --resume, a retraining) work on `.copy(tmp_path)`."""

    data: Path  # the dataset `camseg synth` wrote
    out: Path  # the study's --out: <run>.pt and runs/<run>/ per run
    train_args: tuple[str, ...]  # the `camseg train` arguments that made it, --out included
    arch: str = STUDY_ARCH
    augs: tuple[str, ...] = STUDY_AUGS
    seeds: tuple[int, ...] = STUDY_SEEDS

    def run(self, aug: str, seed: int) -> str:
        return f"{self.arch}-{aug}-s{seed}"

    def checkpoint(self, aug: str, seed: int) -> Path:
        return self.out / f"{self.run(aug, seed)}.pt"

    def checkpoints(self) -> list[Path]:
        return [self.checkpoint(a, s) for a in self.augs for s in self.seeds]

    def run_dir(self, aug: str, seed: int) -> Path:
        return self.out / "runs" / self.run(aug, seed)

    def copy(self, dest: Path) -> TinyStudy:
        """The study's output folder under dest (the data stays shared: read it only). Checkpoints are hard
        links where the file system allows: camseg replaces files atomically (temp file + rename), so a
        write in the copy never reaches the shared study, and the session's end check says if one did."""
        out = dest / "out"
        shutil.copytree(self.out, out, copy_function=_link_or_copy)
        args = list(self.train_args)
        args[args.index("--out") + 1] = str(out)
        return replace(self, out=out, train_args=tuple(args))


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under root with its size and modification time, to see what a test wrote."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory) -> TinyStudy:
    """One study for the whole session (about 12 s on one core), made only if some test asks for it. At the
    end of the session it fails if any test wrote into it: tests must not depend on each other's writes."""
    from typer.testing import CliRunner

    from camseg_cli.cli import app

    root = tmp_path_factory.mktemp("tiny-study")
    data, out = root / "data", root / "out"
    runner = CliRunner()
    made = runner.invoke(app, ["synth", str(data), "--images", "8", "--size", "64x96", "--quiet"])
    assert made.exit_code == 0, made.output
    args = ("--data", str(data), "--out", str(out), "--aug", ",".join(STUDY_AUGS), "--sweep")
    args += ("--seeds", " ".join(map(str, STUDY_SEEDS)), "--arch", STUDY_ARCH, "--weights", "none")
    args += ("--size", "32x48", "--batch-size", "2", "--epochs", "1", "--device", "cpu", "--workers", "0")
    trained = runner.invoke(app, ["train", *args, "--quiet"])
    assert trained.exit_code == 0, trained.output
    study = TinyStudy(data=data, out=out, train_args=args)
    assert all(p.is_file() for p in study.checkpoints()), sorted(out.iterdir())
    before = listing(root)
    yield study
    after = listing(root)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        pytest.fail(f"a test wrote into the shared tiny_study ({root}): {changed[:10]} — use .copy(tmp_path)")
