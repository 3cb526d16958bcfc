"""The reader of users' YAML files: duplicate keys, alias bombs, deep nesting, encodings, size."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from spinefuse.datafiles import read_user_text, read_yaml_file
from spinefuse.errors import CaseError


def _read(tmp_path: Path, content: str | bytes) -> object:
    p = tmp_path / "f.yaml"
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return read_yaml_file(p, "case file", CaseError)


def test_plain_yaml_reads(tmp_path: Path) -> None:
    assert _read(tmp_path, "id: a\nlist: [1, 2.5, x]\nmap: {k: v}\n") == {
        "id": "a",
        "list": [1, 2.5, "x"],
        "map": {"k": "v"},
    }


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match=r"line 2, column 1: key 'id' is given twice"):
        _read(tmp_path, "id: patient-A\nid: patient-B\n")
    with pytest.raises(CaseError, match=r"key 'age_years' is given twice"):
        _read(tmp_path, "patient:\n  age_years: 50\n  sex: male\n  age_years: 70\n")


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    # an explicit key next to a merged one is YAML's override, not a duplicate
    data = _read(tmp_path, "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")
    assert data == {"base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 3}}


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for k in range(1, 10):
        lines.append(f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 9)}]")
    t0 = time.perf_counter()
    with pytest.raises(CaseError, match="aliases expand to more than"):
        _read(tmp_path, "\n".join(lines) + "\n")
    assert time.perf_counter() - t0 < 2.0


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="refers to itself"):
        _read(tmp_path, "a: &x [1, *x]\n")


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="maximum nesting depth|nested more than 64 levels"):
        _read(tmp_path, "a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(CaseError, match="nested more than 64 levels"):
        _read(tmp_path, "a: " + "{b: " * 100 + "1" + "}" * 100 + "\n")


def test_non_utf8_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match=r"not UTF-8 text \(byte 0xe9 at offset 10\)"):
        _read(tmp_path, "notes: Caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(CaseError, match="UTF-16"):
        _read(tmp_path, "id: a\n".encode("utf-16"))


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    assert _read(tmp_path, "\ufeffid: a\n") == {"id": "a"}


def test_oversized_file_is_refused_before_reading_it_all(tmp_path: Path) -> None:
    p = tmp_path / "big.yaml"
    with p.open("wb") as fh:
        fh.write(b"notes: ")
        fh.truncate(50 * 1024 * 1024)  # 50 MB, sparse
    with pytest.raises(CaseError, match=r"50\.0 MiB; a case file is at most 1\.0 MiB"):
        read_yaml_file(p, "case file", CaseError)


def test_binary_file_is_named(tmp_path: Path) -> None:
    p = tmp_path / "image.nii.gz"
    p.write_bytes(b"\x1f\x8b\x08\x00" + bytes(100))
    with pytest.raises(CaseError, match="gzip-compressed"):
        read_user_text(p, "case file", CaseError)


def test_messages_quote_at_most_200_characters(tmp_path: Path) -> None:
    with pytest.raises(CaseError) as err:
        _read(tmp_path, "a: b\n" + "x" * 5000 + ": [\n")
    assert len(str(err.value)) < 700


def test_folder_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="no such case file"):
        read_yaml_file(tmp_path / "absent.yaml", "case file", CaseError)
    with pytest.raises(CaseError, match="is a folder"):
        read_yaml_file(tmp_path, "case file", CaseError)


def test_aliases_chained_past_the_depth_limit_are_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 " + "[" * 60 + "]" * 60]
    lines += [f"a{k}: &a{k} " + "[" * 60 + f"*a{k - 1}" + "]" * 60 for k in range(1, 40)]
    with pytest.raises(CaseError, match="nest the values more than 64 levels"):
        _read(tmp_path, "\n".join(lines) + "\n")


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    data = _read(tmp_path, "a: &x {k: 1}\nb: *x\nc: [*x, *x]\n")
    assert data == {"a": {"k": 1}, "b": {"k": 1}, "c": [{"k": 1}, {"k": 1}]}
