"""check_output_folder: an unusable --out stops before any work, with what to do."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest

from spinefuse.errors import OutputFolderError, SpinefuseError
from spinefuse.records import check_output_folder


def test_a_new_folder_is_created_and_left_clean(tmp_path: Path) -> None:
    out = check_output_folder(tmp_path / "a" / "b")
    assert out.is_dir() and list(out.iterdir()) == []


def test_an_existing_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "report.txt").write_text("keep me")
    with pytest.raises(OutputFolderError, match=r"report.txt: is a file, not a folder"):
        check_output_folder(tmp_path / "report.txt")
    assert (tmp_path / "report.txt").read_text() == "keep me"


def test_a_path_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "case.yaml").write_text("x")
    with pytest.raises(OutputFolderError, match=r"lies under .*case.yaml, which is a file"):
        check_output_folder(tmp_path / "case.yaml" / "out" / "deeper")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputFolderError, match="no permission to write here"):
            check_output_folder(ro)
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (errno.EROFS, "read-only file system"),
        (errno.EACCES, "no permission to write here"),
        (errno.ENOSPC, "the disk is full"),
    ],
)
def test_write_failures_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, message: str
) -> None:
    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputFolderError, match=message) as err:
        check_output_folder(tmp_path)
    assert isinstance(err.value, SpinefuseError) and isinstance(err.value, OSError)


def test_too_little_free_space_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputFolderError, match=r"MiB free on its disk, a run needs at least"):
        check_output_folder(tmp_path, min_free_bytes=2**62)
    assert list(tmp_path.iterdir()) == []  # the write probe is gone
