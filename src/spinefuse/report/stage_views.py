"""Tables and series pulled out of the mechanics, healing and forecast records.

Those records are read as plain JSON mappings (see :mod:`spinefuse.report.stage_records`), so
these views look fields up by name, tolerate fields that are absent, and return ``None`` or an
empty table when the record does not hold what a figure needs. Nothing here invents a value:
every number shown comes from the record.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

SEGMENT_RE = re.compile(r"^[CTLS]\d{1,2}-[CTLS]\d{1,2}$")
_INTACT = ("intact",)
_PLANNED = ("instrumented", "planned", "construct", "fused", "postop", "operated")


def number(value: Any) -> float | None:
    """``value`` as a finite float, or None (bools and non-numbers are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def leaves(obj: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every scalar in a JSON tree with the path of keys (list items as their index) to it."""
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from leaves(v, (*path, str(k)))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from leaves(v, (*path, str(i)))
    else:
        yield path, obj


def first_number(record: Mapping[str, Any] | None, *names: str) -> float | None:
    """The first numeric field anywhere in ``record`` whose key is one of ``names`` (in order)."""
    if not record:
        return None
    found = {p[-1]: number(v) for p, v in leaves(record) if p and number(v) is not None}
    for n in names:
        if found.get(n) is not None:
            return found[n]
    return None


def _state(path: tuple[str, ...], item: Mapping[str, Any] | None = None) -> str | None:
    words = [p.lower() for p in path]
    if item is not None:
        for key in ("state", "condition", "configuration", "model"):
            if isinstance(item.get(key), str):
                words.append(item[key].lower())
    text = " ".join(words)
    if any(w in text for w in _PLANNED):
        return "planned"
    if any(w in text for w in _INTACT):
        return "intact"
    return None


def _segment_items(
    obj: Any, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str, Any]]:
    """(path, segment name, per-segment mapping) for every segment-keyed part of a tree."""
    if isinstance(obj, Mapping):
        seg = obj.get("segment")
        if isinstance(seg, str) and SEGMENT_RE.match(seg.upper()):
            yield path, seg.upper(), obj
        for k, v in obj.items():
            if isinstance(k, str) and SEGMENT_RE.match(k.upper()) and isinstance(v, Mapping):
                yield (*path, k), k.upper(), v
            else:
                yield from _segment_items(v, (*path, str(k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _segment_items(v, (*path, str(i)))


# --- mechanics ------------------------------------------------------------------------------
_ROM_PARTS = {
    "flexion_extension": (("flexion_deg",), ("extension_deg",)),
    "lateral_bending": (("lateral_bending_left_deg",), ("lateral_bending_right_deg",)),
    "axial_rotation": (("axial_rotation_left_deg",), ("axial_rotation_right_deg",)),
}


@dataclass(frozen=True)
class RomRow:
    """Range of motion of one segment (deg) in one plane, intact and as planned."""

    segment: str
    plane: str
    intact_deg: float | None
    planned_deg: float | None

    @property
    def change_percent(self) -> float | None:
        if self.intact_deg is None or self.planned_deg is None or self.intact_deg <= 0:
            return None
        return 100.0 * (self.planned_deg - self.intact_deg) / self.intact_deg


def _rom_of(item: Mapping[str, Any], plane: str) -> float | None:
    flat = {p[-1]: number(v) for p, v in leaves(item) if p and number(v) is not None}
    direct = flat.get(f"{plane}_rom_deg") or flat.get(f"rom_{plane}_deg")
    if direct is not None:
        return abs(direct)
    a_keys, b_keys = _ROM_PARTS[plane]
    a = next((flat[k] for k in a_keys if flat.get(k) is not None), None)
    b = next((flat[k] for k in b_keys if flat.get(k) is not None), None)
    if a is None and b is None:
        return None
    return abs(a or 0.0) + abs(b or 0.0)


def rom_rows(mechanics: Mapping[str, Any] | None) -> list[RomRow]:
    """Per segment and plane: range of motion intact and as planned (deg), in spine order."""
    if not mechanics:
        return []
    if isinstance(mechanics.get("segments"), Mapping) and "constructs" in mechanics:
        # MechanicsResult: ``segments`` is the operated spine when constructs were given, and
        # ``intact`` the same spine without them
        operated = bool(mechanics.get("constructs"))
        mechanics = {
            "intact": mechanics.get("intact") or ({} if operated else mechanics["segments"]),
            "planned": mechanics["segments"] if operated else {},
        }
    values: dict[tuple[str, str], dict[str, float]] = {}
    for path, seg, item in _segment_items(mechanics):
        state = _state(path, item)
        if state is None:
            continue
        for plane in _ROM_PARTS:
            rom = _rom_of(item, plane)
            if rom is not None:
                values.setdefault((seg, plane), {}).setdefault(state, rom)
    order = sorted({s for s, _ in values}, key=_segment_rank)
    rows = []
    for seg in order:
        for plane in _ROM_PARTS:
            v = values.get((seg, plane))
            if v:
                rows.append(RomRow(seg, plane, v.get("intact"), v.get("planned")))
    return rows


def _segment_rank(segment: str) -> tuple[int, int]:
    from spinefuse.conventions import parse_segment, vertebra_index

    try:
        upper, lower = parse_segment(segment)
        return vertebra_index(upper), vertebra_index(lower)
    except Exception:  # an unknown name sorts last rather than failing the report
        return 10_000, 10_000


@dataclass(frozen=True)
class SafetyFactor:
    """One implant's safety factor (strength over peak stress; dimensionless)."""

    implant: str
    value: float


def safety_factors(record: Mapping[str, Any] | None) -> list[SafetyFactor]:
    """Every field named ``*safety_factor*`` in a record, labelled by where it sits."""
    out = []
    for path, v in leaves(record or {}):
        x = number(v)
        if x is None or not path or "safety_factor" not in path[-1]:
            continue
        if path[-1].startswith(("min_", "max_")):  # a summary of the items listed anyway
            continue
        label = " ".join(p for p in path[:-1] if not p.isdigit()) or path[-1]
        name = _label_from(record or {}, path) or label
        kinds = [p for p in path[:-1] if not p.isdigit() and p.endswith("s") and p != "implants"]
        if kinds and _label_from(record or {}, path):
            name = f"{kinds[-1][:-1]} {name}"
        extra = path[-1].replace("safety_factor", "").strip("_")
        out.append(SafetyFactor(f"{name} {extra}".strip().replace("_", " "), x))
    return out


def _label_from(record: Mapping[str, Any], path: tuple[str, ...]) -> str | None:
    """A readable name for the list item a leaf sits in (its implant/name/segment fields)."""
    node: Any = record
    best = None
    for p in path[:-1]:
        node = node[int(p)] if isinstance(node, list) else node.get(p)
        if isinstance(node, Mapping):
            parts = [
                str(node[k])
                for k in ("implant", "kind", "name", "vertebra", "segment", "side", "load_case")
                if isinstance(node.get(k), str)
            ]
            if parts:
                best = " ".join(parts)
    return best


# --- healing -------------------------------------------------------------------------------
_TIME_KEYS = ("months", "time_months", "month")
_DAY_KEYS = ("days", "time_days", "day")


@dataclass(frozen=True)
class Series:
    """A named time series: ``months`` (x) and ``values`` (y) of equal length."""

    name: str
    months: tuple[float, ...]
    values: tuple[float, ...]
    label: str = ""
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None


def _numbers(v: Any) -> tuple[float, ...] | None:
    if not isinstance(v, list) or not v:
        return None
    xs = [number(x) for x in v]
    if any(x is None for x in xs):
        return None
    return tuple(x for x in xs if x is not None)


def time_series(record: Mapping[str, Any] | None) -> list[Series]:
    """Every numeric list that runs along a time axis found next to it in ``record``."""
    out: list[Series] = []

    def visit(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, Mapping):
            months = next(
                (_numbers(node.get(k)) for k in _TIME_KEYS if _numbers(node.get(k))), None
            )
            if months is None:
                days = next(
                    (_numbers(node.get(k)) for k in _DAY_KEYS if _numbers(node.get(k))), None
                )
                months = tuple(d / 30.4375 for d in days) if days else None
            if months is not None:
                segs = [p for p in path if SEGMENT_RE.match(p.upper())]
                label = (
                    _label_from({"_": node}, ("_", "x"))
                    or (segs[-1].upper() if segs else "")
                    or " ".join(p for p in path if not p.isdigit())
                )
                for k, v in node.items():
                    vals = _numbers(v)
                    if k in _TIME_KEYS + _DAY_KEYS or vals is None or len(vals) != len(months):
                        continue
                    out.append(Series(k, months, vals, label))
            for k, v in node.items():
                visit(v, (*path, str(k)))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                visit(v, (*path, str(i)))

    visit(record or {}, ())
    return out


def healing_curves(healing: Mapping[str, Any] | None) -> list[Series]:
    """The healing course per fused segment: bone fraction per graft region (median with the
    10th–90th percentile band), fusion probability (0–1) and subsidence (mm, median with its
    90th percentile), each over months. Falls back to :func:`time_series` for other shapes."""
    out: list[Series] = []
    for seg in (healing or {}).get("segments") or []:
        if not isinstance(seg, Mapping):
            continue
        months = _numbers(seg.get("months"))
        if months is None:
            continue
        name = str(seg.get("segment", ""))

        def pick(
            key: str, item: Mapping[str, Any] = seg, n: int = len(months)
        ) -> tuple[float, ...] | None:
            v = _numbers(item.get(key))
            return v if v is not None and len(v) == n else None

        for region in seg.get("regions") or []:
            if isinstance(region, Mapping) and (med := pick("bone_fraction_median", region)):
                out.append(
                    Series(
                        f"bone fraction, {region.get('region', '')} graft",
                        months,
                        med,
                        name,
                        pick("bone_fraction_p10", region),
                        pick("bone_fraction_p90", region),
                    )
                )
        if fp := pick("fusion_probability"):
            out.append(Series("fusion probability", months, fp, name))
        if sub := pick("subsidence_mm_median"):
            out.append(Series("subsidence_mm", months, sub, name, None, pick("subsidence_mm_p90")))
    return out or time_series(healing)


def fusion_probability_points(healing: Mapping[str, Any] | None) -> dict[float, float]:
    """Fusion probability by month (6, 12, 24 …) from fields such as ``fusion_probability_12m``
    or a mapping ``fusion_probability: {"12": p}`` (not from time series, which are lists)."""
    out: dict[float, float] = {}

    def visit(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, v in node.items():
                m = re.fullmatch(r"fusion_probability_(\d+(?:\.\d+)?)m(?:onths)?", str(key))
                if m and (p := number(v)) is not None:
                    out.setdefault(float(m.group(1)), p)
                elif key == "fusion_probability" and isinstance(v, Mapping):
                    for k2, v2 in v.items():
                        m2 = re.fullmatch(r"(\d+(?:\.\d+)?)(?:m|_months)?", str(k2))
                        if m2 and (p := number(v2)) is not None:
                            out.setdefault(float(m2.group(1)), p)
                else:
                    visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    visit(healing or {})
    return dict(sorted(out.items()))


# --- forecast --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Risk:
    """A complication's probability with its interval and the average patient's probability
    (the published rate the model is calibrated to, when the record gives it)."""

    name: str
    probability: float
    low: float | None = None
    high: float | None = None
    average: float | None = None
    key: str = ""
    horizon: str = ""
    source: str = ""
    drivers: tuple[str, ...] = ()


_PROB_KEYS = ("probability", "risk", "p", "value", "estimate")
_LOW_KEYS = ("low", "lower", "ci_low", "ci_lower", "interval_low", "probability_low")
_HIGH_KEYS = ("high", "upper", "ci_high", "ci_upper", "interval_high", "probability_high")
_AVG_KEYS = (
    "average",
    "average_patient",
    "baseline",
    "population",
    "average_probability",
    "baseline_probability",
    "published_rate",
)


def _interval(item: Mapping[str, Any]) -> tuple[float | None, float | None]:
    low = next((number(item.get(k)) for k in _LOW_KEYS if number(item.get(k)) is not None), None)
    high = next((number(item.get(k)) for k in _HIGH_KEYS if number(item.get(k)) is not None), None)
    for k in ("interval", "ci", "interval_95", "ci95", "ci_95"):
        iv = item.get(k)
        if isinstance(iv, list | tuple) and len(iv) == 2:
            low, high = number(iv[0]), number(iv[1])
        elif isinstance(iv, Mapping):
            low = next((number(iv.get(x)) for x in _LOW_KEYS if number(iv.get(x)) is not None), low)
            high = next(
                (number(iv.get(x)) for x in _HIGH_KEYS if number(iv.get(x)) is not None), high
            )
    return low, high


def _risk(name: str, item: Any) -> Risk | None:
    if (p := number(item)) is not None:
        return Risk(name, p) if 0.0 <= p <= 1.0 else None
    if not isinstance(item, Mapping):
        return None
    p = next((number(item.get(k)) for k in _PROB_KEYS if number(item.get(k)) is not None), None)
    if p is None or not 0.0 <= p <= 1.0:
        return None
    low, high = _interval(item)
    avg = next((number(item.get(k)) for k in _AVG_KEYS if number(item.get(k)) is not None), None)
    label = item.get("label") or item.get("name") or item.get("complication") or name
    key = item.get("outcome") or item.get("name") or item.get("complication") or name
    drivers = tuple(
        f"{d['factor']} ({d.get('value', '')}: ×{number(d.get('effect')) or 0:.2f})"
        for d in item.get("drivers") or []
        if isinstance(d, Mapping) and isinstance(d.get("factor"), str)
    )
    return Risk(
        str(label),
        p,
        low,
        high,
        avg,
        key=str(key),
        horizon=str(item.get("horizon", "")),
        source=str(item.get("source", "")),
        drivers=drivers,
    )


def risks(forecast: Mapping[str, Any] | None) -> list[Risk]:
    """The complication risks of a forecast (probabilities 0–1 with intervals when given)."""
    if not forecast:
        return []
    for key in ("complications", "risks", "complication_risks"):
        block = forecast.get(key)
        out: list[Risk] = []
        if isinstance(block, Mapping):
            out = [r for k, v in block.items() if (r := _risk(str(k), v)) is not None]
        elif isinstance(block, list):
            out = [r for i, v in enumerate(block) if (r := _risk(str(i), v)) is not None]
        if out:
            return out
    return []


@dataclass(frozen=True)
class Milestone:
    """A step of the recovery pathway: when (weeks after surgery), what, and for phases and
    restrictions the week it ends. ``kind``: mobilise, phase, restriction, work, visit, step."""

    week: float
    what: str
    until: float | None = None
    kind: str = "step"


def pathway_milestones(pathway: Mapping[str, Any]) -> list[Milestone]:
    """Milestones of a structured recovery pathway (the outcome stage's RecoveryPathway)."""
    out: list[Milestone] = []
    day = number(pathway.get("mobilisation_day"))
    if day is not None:
        out.append(Milestone(day / 7.0, "first walk with the physiotherapist", kind="mobilise"))
    for ph in pathway.get("physiotherapy") or []:
        if isinstance(ph, Mapping) and (a := number(ph.get("start_week"))) is not None:
            out.append(
                Milestone(
                    a, f"physiotherapy: {ph.get('name', '')}", number(ph.get("end_week")), "phase"
                )
            )
    for r in pathway.get("restrictions") or []:
        if isinstance(r, Mapping) and (u := number(r.get("until_week"))) is not None:
            out.append(Milestone(0.0, f"no {r.get('activity', '')}", u, "restriction"))
    rtw = pathway.get("return_to_work")
    if isinstance(rtw, Mapping):
        for key, what in (
            ("light_work_week", "back to light work"),
            ("manual_work_week", "back to manual work"),
        ):
            if (w := number(rtw.get(key))) is not None:
                out.append(Milestone(w, what, kind="work"))
    for v in pathway.get("follow_up") or []:
        if isinstance(v, Mapping) and (w := number(v.get("week"))) is not None:
            imaging = str(v.get("imaging", ""))
            what = str(v.get("what", "visit")) + (
                f" ({imaging})" if imaging and imaging != "none" else ""
            )
            out.append(Milestone(w, what, kind="visit"))
    return sorted(out, key=lambda m: (m.week, m.until or 0.0))


def recovery_milestones(forecast: Mapping[str, Any] | None) -> list[Milestone]:
    """The recovery pathway as milestones in time order (weeks after surgery)."""
    if not forecast:
        return []
    pathway = forecast.get("pathway")
    if isinstance(pathway, Mapping) and ("physiotherapy" in pathway or "follow_up" in pathway):
        return pathway_milestones(pathway)
    block: Any = None
    for key in ("recovery", "recovery_pathway", "pathway", "milestones", "timeline"):
        if forecast.get(key):
            block = forecast[key]
            break
    if isinstance(block, Mapping):
        inner = next(
            (block[k] for k in ("milestones", "steps", "events") if isinstance(block.get(k), list)),
            None,
        )
        block = (
            inner
            if inner is not None
            else [
                {"what": k, **(v if isinstance(v, Mapping) else {"value": v})}
                for k, v in block.items()
            ]
        )
    if not isinstance(block, list):
        return []
    out = []
    for item in block:
        if not isinstance(item, Mapping):
            continue
        week = None
        for key, scale in (
            ("week", 1.0),
            ("weeks", 1.0),
            ("week_from", 1.0),
            ("start_week", 1.0),
            ("day", 1 / 7),
            ("days", 1 / 7),
            ("start_day", 1 / 7),
            ("day_from", 1 / 7),
            ("month", 4.345),
            ("months", 4.345),
            ("value", 1.0),
        ):
            if (x := number(item.get(key))) is not None:
                week = x * scale
                break
        what = next(
            (
                str(item[k])
                for k in ("what", "milestone", "description", "activity", "name", "event")
                if isinstance(item.get(k), str)
            ),
            None,
        )
        if week is not None and what:
            out.append(Milestone(week, what.replace("_", " ")))
    return sorted(out, key=lambda m: m.week)


@dataclass(frozen=True)
class Quantity:
    """A forecast quantity with its predictive range (``low``–``high``, e.g. 5th–95th pct)."""

    name: str
    label: str
    unit: str
    mean: float | None
    median: float | None
    low: float | None
    high: float | None


def quantities(forecast: Mapping[str, Any] | None) -> list[Quantity]:
    """The perioperative quantities of a forecast (operative time, blood loss, stay …)."""
    out = []
    for q in (forecast or {}).get("perioperative") or []:
        if isinstance(q, Mapping) and isinstance(q.get("name"), str):
            out.append(
                Quantity(
                    q["name"],
                    str(q.get("label", q["name"])),
                    str(q.get("unit", "")),
                    number(q.get("mean")),
                    number(q.get("median")),
                    number(q.get("p5", q.get("low"))),
                    number(q.get("p95", q.get("high"))),
                )
            )
    return out


def stay_days(forecast: Mapping[str, Any] | None) -> float | None:
    """Expected length of stay (days): the median of the stay quantity, else a plain field."""
    for q in quantities(forecast):
        if "stay" in q.name:
            return q.median if q.median is not None else q.mean
    return first_number(forecast, "length_of_stay_days")


@dataclass(frozen=True)
class Trajectory:
    """A patient-reported outcome over months: median with its band, the MCID and the chance
    of an improvement of at least the MCID at each time."""

    instrument: str
    label: str
    unit: str
    months: tuple[float, ...]
    median: tuple[float, ...]
    low: tuple[float, ...] | None
    high: tuple[float, ...] | None
    mcid: float | None
    mcid_probability: tuple[float, ...] | None

    def at(self, month: float, values: tuple[float, ...] | None) -> float | None:
        """The value of ``values`` at ``month`` when the trajectory has that time point."""
        if values is None:
            return None
        for m, v in zip(self.months, values, strict=False):
            if abs(m - month) < 1e-6:
                return v
        return None


def trajectories(forecast: Mapping[str, Any] | None) -> list[Trajectory]:
    """The PRO trajectories of a forecast (the ``pro`` list), in the record's order."""
    out = []
    for t in (forecast or {}).get("pro") or []:
        if not isinstance(t, Mapping):
            continue
        months = _numbers(t.get("months"))
        centre = _numbers(t.get("median")) or _numbers(t.get("mean"))
        if months is None or centre is None or len(centre) != len(months):
            continue
        out.append(
            Trajectory(
                str(t.get("instrument", "")),
                str(t.get("label", t.get("instrument", ""))),
                str(t.get("unit", "")),
                months,
                centre,
                _numbers(t.get("p5")),
                _numbers(t.get("p95")),
                number(t.get("mcid")),
                _numbers(t.get("mcid_probability")),
            )
        )
    return out
