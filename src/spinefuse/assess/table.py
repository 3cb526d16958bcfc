"""The assessment as rich tables for people: findings, recommendations, key measurements."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from spinefuse.assess.assessment import Assessment, Measurement

KEY = (
    "lumbar_lordosis",
    "pelvic_incidence",
    "pelvic_tilt",
    "sacral_slope",
    "pi_ll_mismatch",
    "sagittal_vertical_axis",
    "cobb_angle",
    "slip_percent",
    "disc_height_index",
    "translation_mm",
    "translation_percent",
    "angulation_change",
    "dural_sac_area",
    "foraminal_height",
    "trabecular_hu",
)
STYLE = {"fuse": "bold red", "decompress": "yellow", "refer": "cyan", "none": "green"}


def number(m: Measurement) -> str:
    """A measurement's value as people read it: one decimal for mm, degrees and %, whole HU
    and mm², three decimals for ratios (``-0.0`` shown as ``0.0``)."""
    decimals = {"mm": 1, "deg": 1, "%": 1, "HU": 0, "mm2": 0}.get(m.unit, 3)
    return f"{round(m.value, decimals) + 0.0:.{decimals}f}"


def shown(m: Measurement) -> str:
    """Value and unit, e.g. ``12.0°``, ``5.0 mm``, ``18.0%``."""
    unit = {"deg": "°", "mm2": "mm²"}.get(m.unit, m.unit)
    sep = "" if unit in ("°", "%") else " "
    return f"{number(m)}{sep}{unit}".rstrip()


def assessment_table(a: Assessment) -> Table:
    """One table: a row per segment with its action, findings and reasons; then the findings
    that belong to no single segment, and the red flags."""
    t = Table(title="Assessment", show_lines=True)
    t.add_column("Segment", style="bold")
    t.add_column("Action")
    t.add_column("Findings")
    t.add_column("Key measurements")
    t.add_column("Reasons")
    for r in a.recommendations:
        here = [f for f in a.findings if f.level == r.segment]
        ms = [
            m
            for m in a.measurements
            if m.level == r.segment and m.name in KEY and m.name != "cobb_angle"
        ]
        t.add_row(
            r.segment,
            f"[{STYLE[r.action]}]{r.action}[/]",
            "\n".join(f"{f.diagnosis.replace('_', ' ')} {f.grade}".strip() for f in here) or "-",
            "\n".join(f"{m.name.replace('_', ' ')} {shown(m)}" for m in ms) or "-",
            "\n".join(r.reasons),
        )
    for f in a.findings:
        if f.level not in {r.segment for r in a.recommendations}:
            t.add_row(
                f.level or "-",
                "",
                f"{f.diagnosis.replace('_', ' ')} {f.grade}",
                "\n".join(f.evidence),
                f.source,
            )
    for flag in a.red_flags:
        t.add_row("RED FLAG", "[bold red]refer[/]", flag, "", "")
    t.caption = a.rationale
    return t


def measurement_table(a: Assessment) -> Table:
    """Every measurement with its unit, level, normal range and origin."""
    t = Table(title="Measurements")
    for col in ("Measurement", "Level", "Value", "Unit", "Normal", "From"):
        t.add_column(col)
    for m in a.measurements:
        normal = "" if m.normal_range is None else f"{m.normal_range[0]:g}–{m.normal_range[1]:g}"
        t.add_row(
            m.name.replace("_", " "),
            m.level or "",
            number(m),
            m.unit,
            normal,
            m.detail.get("from", ""),
        )
    return t


def assessment_report(a: Assessment) -> Group:
    """Both tables, for printing with ``rich``."""
    return Group(assessment_table(a), measurement_table(a))
