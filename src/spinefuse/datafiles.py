"""YAML files: the packaged data under ``spinefuse/data`` (literature constants with their
sources, the implant catalogue, calibrations), read through :func:`load_yaml`, and the files users
give (case files, cohort specs, site catalogues), read through :func:`read_yaml_file`.

A user's file is untrusted: it is read only up to a size limit, must be UTF-8 (a byte-order mark
is accepted), and its YAML may not repeat a key, nest deeper than :data:`MAX_YAML_DEPTH` levels
or let anchors and aliases expand to more than :data:`MAX_ALIAS_EXPANSION` extra nodes (the
"billion laughs" bomb). Every refusal is the caller's :class:`SpinefuseError` subclass naming the
file, the line and what to do; no message quotes more than a couple of hundred characters of it.
"""

from __future__ import annotations

import codecs
import types
from collections.abc import Hashable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import ValidationInfo, field_validator
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, SequenceNode
from yaml.resolver import Resolver

from spinefuse.errors import SpinefuseError, quoted
from spinefuse.records import Record

MAX_USER_FILE_BYTES = 1024 * 1024
"""Largest YAML or CSV file a user may give (1 MiB): a case file is a few kilobytes."""
MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and lists in a user's YAML file."""
MAX_ALIAS_EXPANSION = 10_000
"""Most nodes that aliases (``*name``) may add to a user's YAML file once expanded."""

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x1f\x8b", 0, "a gzip-compressed file (a .nii.gz image?)"),
    (b"n+1\x00", 344, "a NIfTI-1 image"),
    (b"n+2\x00", 4, "a NIfTI-2 image"),
    (b"DICM", 128, "a DICOM file"),
    (b"PK\x03\x04", 0, "a zip archive (an .xlsx or .docx file?)"),
    (b"%PDF", 0, "a PDF document"),
    (b"\x89PNG", 0, "a PNG image"),
    (b"\xff\xd8\xff", 0, "a JPEG image"),
)


@cache
def load_yaml(name: str) -> Any:
    """The parsed YAML data file ``name`` (e.g. ``"lumbar_dimensions.yaml"``), read once."""
    text = resources.files("spinefuse.data").joinpath(name).read_text(encoding="utf-8")
    # the C loader (libyaml) when PyYAML has it: ~10x faster on the larger data files
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def read_user_text(
    path: str | Path,
    what: str,
    error: type[SpinefuseError],
    max_bytes: int = MAX_USER_FILE_BYTES,
) -> str:
    """The text of a user's file, read as UTF-8 (a byte-order mark is dropped).

    ``error`` names the file when it is missing, a folder, larger than ``max_bytes`` (checked
    before reading it), binary (gzip, NIfTI, DICOM, …), UTF-16/32 or not UTF-8."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a folder, not a {what}")
    if not path.is_file():
        raise error(f"{path}: no such {what}")
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as err:
        raise error(f"{path}: cannot read the {what} ({err.strerror or err})") from None
    if len(data) > max_bytes:
        size = path.stat().st_size
        raise error(
            f"{path}: {_mib(size)}; a {what} is at most {_mib(max_bytes)}: give the right file "
            "(large free text belongs in a separate document)"
        )
    for magic, offset, kind in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            raise error(f"{path}: {kind}, not a {what} (text); check which file the path names")
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise error(f"{path}: saved as UTF-32; save the {what} as UTF-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        len(data) >= 2 and data.count(0) > len(data) // 4
    ):
        raise error(f"{path}: saved as UTF-16; save the {what} as UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise error(
            f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}); save "
            f"the {what} as UTF-8"
        ) from None
    if "\x00" in text:
        raise error(f"{path}: holds NUL characters: a binary file, not a {what}")
    return text


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


class _LimitError(yaml.YAMLError):
    """A user's YAML exceeds a limit (depth, alias expansion); carries its own message."""


class _UserComposer(Composer):
    """Composes nodes while counting their depth; the finished document is checked for alias
    bombs and recursion (:func:`_check_graph`)."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        events: Any = self  # the parser half of the loader
        if events.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            mark = events.peek_event().start_mark
            raise _LimitError(
                f"line {mark.line + 1}: nested more than {MAX_YAML_DEPTH} levels deep; a "
                "spinefuse file needs a handful"
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> Node | None:
        node = super().get_single_node()
        if node is not None:
            _check_graph(node)
        return node


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_graph(root: Node) -> None:
    """Refuse a document whose aliases refer to an enclosing node (recursion), nest deeper than
    MAX_YAML_DEPTH once expanded, or add more than MAX_ALIAS_EXPANSION nodes."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:  # iterative post-order walk: no recursion however deep the aliases chain
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            open_.discard(key)
            if depth[key] > MAX_YAML_DEPTH:
                raise _LimitError(
                    f"line {node.start_mark.line + 1}: aliases nest the values more than "
                    f"{MAX_YAML_DEPTH} levels deep; write the values out"
                )
            if size[key] - len(size) > MAX_ALIAS_EXPANSION:
                raise _LimitError(
                    f"anchors and aliases expand to more than {MAX_ALIAS_EXPANSION} extra values "
                    "(an alias bomb?); write the values out or use fewer aliases"
                )
            continue
        if key in size:
            continue
        if key in open_:
            raise _LimitError(
                f"line {node.start_mark.line + 1}: an alias refers to itself or to a mapping or "
                "list that contains it (a recursive structure); write the values out"
            )
        open_.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node))


class _UserConstructor(SafeConstructor):
    """Safe construction that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        if isinstance(node, MappingNode):
            seen: set[object] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:
                    continue  # unhashable: the base class names it
                if duplicate:
                    raise ConstructorError(
                        None,
                        None,
                        f"key {quoted(key)} is given twice in one mapping (the later one would "
                        "silently win); keep one",
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)


def _parser_class() -> type:
    """libyaml's scanner and parser when PyYAML was built with it (fast), else PyYAML's own."""
    try:
        from yaml._yaml import CParser

        return CParser
    except ImportError:  # pragma: no cover - PyYAML without libyaml
        from yaml.parser import Parser
        from yaml.reader import Reader
        from yaml.scanner import Scanner

        class PyParser(Reader, Scanner, Parser):
            def __init__(self, stream: str) -> None:
                Reader.__init__(self, stream)
                Scanner.__init__(self)
                Parser.__init__(self)

        return PyParser


_Parser: Any = _parser_class()


class _UserLoader(_Parser, _UserComposer, _UserConstructor, Resolver):  # type: ignore[misc]
    """A safe YAML loader with limits for files that users give. The parser may be libyaml's;
    composition always goes through :class:`_UserComposer` (where the limits are)."""

    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        _UserComposer.__init__(self)
        _UserConstructor.__init__(self)
        Resolver.__init__(self)

    compose_node = _UserComposer.compose_node
    compose_document = _UserComposer.compose_document
    get_single_node = _UserComposer.get_single_node
    get_node = _UserComposer.get_node
    check_node = _UserComposer.check_node


def parse_user_yaml(text: str) -> Any:
    """Parse YAML text from a user with the limits above; raises :class:`yaml.YAMLError`."""
    loader = _UserLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml_file(path: str | Path, what: str, error: type[SpinefuseError]) -> Any:
    """The parsed content of a user's YAML file; ``error`` names the file when it is missing,
    too large, not UTF-8, not YAML, repeats a key, nests too deeply or holds an alias bomb."""
    text = read_user_text(path, what, error)
    try:
        return parse_user_yaml(text)
    except _LimitError as err:
        raise error(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML: {_yaml_message(err)}") from None


def _yaml_message(err: yaml.YAMLError) -> str:
    """PyYAML's message without its quoted snippet of the file, cut to a few lines."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        parts = [p for p in (err.context, err.problem) if p]
        return where + quoted_text("; ".join(parts))
    return quoted_text(str(err))


def quoted_text(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` characters."""
    return text if len(text) <= limit else text[:limit] + "…"


# --- records read from users' files -------------------------------------------------------------
class UserRecord(Record):
    """A record filled from a user's file: numbers must be finite, and ``true``/``false`` is not
    taken for a number (pydantic would read ``size: true`` as 1)."""

    model_config = Record.model_config | {"allow_inf_nan": False}

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _bool_where_number(field.annotation, value):
            raise ValueError("true/false is not a number: give the number")
        return value


def _number_kinds(annotation: Any) -> tuple[bool, bool]:
    """(accepts an int or float, accepts a bool) for a field's annotation."""
    if annotation is bool:
        return False, True
    if annotation in (int, float):
        return True, False
    origin = get_origin(annotation)
    if origin is Annotated:
        return _number_kinds(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        kinds = [_number_kinds(a) for a in get_args(annotation)]
        return any(k[0] for k in kinds), any(k[1] for k in kinds)
    return False, False


def _bool_where_number(annotation: Any, value: Any) -> bool:
    if isinstance(value, bool):
        number, boolean = _number_kinds(annotation)
        return number and not boolean
    if isinstance(value, list | tuple) and get_origin(annotation) in (tuple, list):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        return any(_bool_where_number(args[min(i, len(args) - 1)], v) for i, v in enumerate(value))
    return False
