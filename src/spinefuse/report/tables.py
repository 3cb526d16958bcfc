"""Numbers and tables for the reports: units on every value, long texts as numbered notes.

Formatting helpers (:func:`fmt`), the measurement tables and level matrices of the assessment,
and :func:`record_table`, which turns a list of flat stage-record items into a table whose
headers carry the units named in the field names (``stress_mpa`` -> "stress (MPa)").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from spinefuse.assess.assessment import Measurement
from spinefuse.conventions import parse_segment, vertebra_index


def number(value: Any) -> float | None:
    """``value`` as a finite float, or None (bools and non-numbers are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    """A number for a table: fixed digits, a unit when given, an en dash when absent."""
    if value is None:
        return "–"
    unit = {"deg": "°", "%": " %", "mm2": " mm²", "cm3": " cm³", "": ""}.get(unit, f" {unit}")
    text = f"{value:.{digits}f}"
    if text.startswith("-") and float(text) == 0.0:  # no "-0.0"
        text = text[1:]
    return f"{text}{unit}"


def signed_percent(percent: float | None) -> str:
    """A signed change in percent, "0 %" when it rounds to zero, an en dash when absent."""
    if percent is None:
        return "–"
    return "0 %" if round(percent) == 0 else f"{percent:+.0f} %"


def plural(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


def words(s: str) -> str:
    return s.replace("_", " ")


class Notes:
    """Numbered notes (methods, sources) so that a long text is printed once and referred to by
    its number in every table row that uses it."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def ref(self, *parts: str) -> str:
        """The note number of this text ("" for an empty one), adding it when new."""
        text = " — ".join(p for p in parts if p)
        if not text:
            return ""
        if text not in self.items:
            self.items.append(text)
        return str(self.items.index(text) + 1)


def _flag(m: Measurement) -> str:
    if m.normal_range is None:
        return ""
    lo, hi = m.normal_range
    return "below" if m.value < lo else "above" if m.value > hi else "within"


def _normal(m: Measurement) -> str:
    if m.normal_range is None:
        return "–"
    return f"{fmt(m.normal_range[0], 0, m.unit)} to {fmt(m.normal_range[1], 0, m.unit)}"


def _is_segment(level: str | None) -> bool:
    try:
        upper, lower = parse_segment(level or "")
    except Exception:
        return False
    return vertebra_index(lower) - vertebra_index(upper) == 1 or (upper, lower) == ("L5", "S1")


def _is_vertebra(level: str | None) -> bool:
    try:
        vertebra_index(level or "")
    except Exception:
        return False
    return True


def _per_level(level: str | None) -> bool:
    return _is_segment(level) or _is_vertebra(level)


def _in_matrix(m: Measurement, measurements: Sequence[Measurement]) -> bool:
    """True when ``m`` goes in a level matrix: per segment, or per vertebra for a measurement
    taken at two or more vertebrae."""
    if _is_segment(m.level):
        return True
    if not _is_vertebra(m.level):
        return False
    levels = {x.level for x in measurements if x.name == m.name and _is_vertebra(x.level)}
    return len(levels) >= 2


def measurement_rows(
    measurements: Sequence[Measurement], notes: Notes | None = None
) -> list[dict[str, str]]:
    """Measurements that are neither per motion segment nor per vertebra as rows: value,
    normal range, where the value lies, and the note number of the method and source."""
    notes = notes or Notes()
    return [
        {
            "name": words(m.name),
            "level": m.level or "",
            "value": fmt(m.value, 1, m.unit),
            "normal": _normal(m),
            "flag": _flag(m),
            "note": notes.ref(m.method, m.source or "spinefuse assess"),
        }
        for m in measurements
        if not _in_matrix(m, measurements)
    ]


def level_matrix(
    measurements: Sequence[Measurement], notes: Notes | None = None, per: str = "segment"
) -> dict[str, Any] | None:
    """Per-segment (``per="segment"``) or per-vertebra (``"vertebra"``) measurements as a
    matrix: one row per measurement, one column per level, each cell with its value and whether
    it lies outside the normal range."""
    notes = notes or Notes()
    keep = _is_segment if per == "segment" else _is_vertebra
    chosen = [m for m in measurements if m.level and keep(m.level) and _in_matrix(m, measurements)]
    if not chosen:
        return None

    def rank(level: str) -> int:
        return vertebra_index(parse_segment(level)[0] if per == "segment" else level)

    levels = sorted({str(m.level) for m in chosen}, key=rank)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for m in chosen:
        # a measurement per side (or endplate) is a row of its own
        part = m.detail.get("side") or m.detail.get("endplate") or ""
        row = rows.setdefault(
            (m.name + part, m.unit),
            {
                "name": words(m.name) + (f" ({part})" if part else ""),
                "unit": {"deg": "°", "mm2": "mm²"}.get(m.unit, m.unit),
                "normal": _normal(m),
                "cells": {},
                "note": notes.ref(m.method, m.source),
            },
        )
        row["cells"][m.level] = {"value": fmt(m.value, 1), "flag": _flag(m)}
    empty = {"value": "–", "flag": ""}
    return {
        "segments": levels,
        "rows": [
            {**r, "cells": [r["cells"].get(lv, empty) for lv in levels]} for r in rows.values()
        ],
    }


_UNITS = (
    ("_nm", "N·m"),
    ("_nmm", "N·mm"),
    ("_n", "N"),
    ("_mpa", "MPa"),
    ("_deg", "deg"),
    ("_mm", "mm"),
    ("_ml", "mL"),
    ("_days", "days"),
    ("_min", "min"),
)


def column_title(key: str) -> tuple[str, str]:
    """A field name as a column title and its unit: ``stress_mpa`` -> (``stress``, ``MPa``)."""
    for suffix, unit in _UNITS:
        if key.endswith(suffix):
            return words(key[: -len(suffix)]), unit
    return words(key), ""


def cell(v: Any) -> str:
    """A table cell: integers plain, other numbers to 3 significant figures, words spaced."""
    x = number(v)
    if x is not None:
        return f"{x:.0f}" if x.is_integer() or abs(x) >= 1000 else f"{x:.3g}"
    return "–" if v is None else words(str(v))


def record_table(
    items: Any, notes: Notes | None = None, drop: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """A list of flat records (or a mapping of name -> flat record) as a table whose headers
    carry the units named in the field names; None when ``items`` is not tabular. With
    ``notes``, long text fields (``source``) become note numbers."""
    if isinstance(items, Mapping):
        items = [{"": k, **v} for k, v in items.items() if isinstance(v, Mapping)]
    if not isinstance(items, list) or not items or not all(isinstance(i, Mapping) for i in items):
        return None
    keys = [
        k
        for k, v in items[0].items()
        if (isinstance(v, str | int | float) or v is None) and k not in drop
    ]
    if not keys:
        return None
    headers = []
    for k in keys:
        title, unit = column_title(k)
        if notes is not None and k == "source":
            title = "note"
        headers.append(f"{title} ({'°' if unit == 'deg' else unit})" if unit else title)
    rows = [
        [
            notes.ref(str(item.get(k) or ""))
            if notes is not None and k == "source"
            else cell(item.get(k))
            for k in keys
        ]
        for item in items
    ]
    return {"headers": headers, "rows": rows}
