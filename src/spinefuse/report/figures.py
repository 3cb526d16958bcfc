"""The report's charts (matplotlib, Agg back-end): each returns a PNG as a ``data:`` URI.

Every chart states its units on its axes; the data come from the stage records unchanged.
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from spinefuse.report.picture_store import remembered  # noqa: E402
from spinefuse.report.stage_views import Milestone, Risk, RomRow, Series  # noqa: E402

INTACT = "#8c9bab"
PLANNED = "#c0392b"
ACCENT = "#1f5f8b"
GOOD = "#2e8b57"
DPI = 110


def new_figure(width_in: float = 6.4, height_in: float = 3.2) -> Figure:
    """A figure on the Agg canvas, not registered with pyplot (no global state to leak)."""
    return Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")


def data_uri(fig: Figure, dpi: int = DPI) -> str:
    """The figure as a base64 PNG ``data:`` URI (self-contained HTML needs no files)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


PLANES = ("flexion_extension", "lateral_bending", "axial_rotation")
_PLANE_TITLE = {
    "flexion_extension": "flexion–extension",
    "lateral_bending": "lateral bending",
    "axial_rotation": "axial rotation",
}


@remembered
def rom_chart(rows: Sequence[RomRow]) -> str | None:
    """Bars of range of motion per segment (deg), intact against planned, one panel per plane
    of motion present; labels give the change in percent."""
    planes = [p for p in PLANES if any(r.plane == p for r in rows)]
    if not planes:
        return None
    fig = new_figure(6.8, 1.8 * len(planes) + 0.4)
    axes = fig.subplots(len(planes), 1, squeeze=False, sharex=False)[:, 0]
    for ax, plane in zip(axes, planes, strict=True):
        chosen = [r for r in rows if r.plane == plane]
        x = np.arange(len(chosen))
        intact = [r.intact_deg if r.intact_deg is not None else np.nan for r in chosen]
        planned = [r.planned_deg if r.planned_deg is not None else np.nan for r in chosen]
        ax.bar(x - 0.2, intact, 0.4, color=INTACT, label="intact")
        ax.bar(x + 0.2, planned, 0.4, color=PLANNED, label="after the planned fusion")
        for xi, r in zip(x, chosen, strict=True):
            if (c := r.change_percent) is not None:
                top = max(v for v in (r.intact_deg, r.planned_deg) if v is not None)
                label = "0 %" if round(c) == 0 else f"{c:+.0f} %"
                ax.annotate(
                    label,
                    (xi, top),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    xytext=(0, 2),
                    textcoords="offset points",
                )
        ax.set_xticks(x, [r.segment for r in chosen])
        ax.set_ylabel(f"{_PLANE_TITLE[plane]}\nROM (deg)", fontsize=8)
        ax.margins(y=0.18)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].legend(frameon=False, fontsize=7, loc="upper left", ncols=2)
    return data_uri(fig)


@remembered
def healing_chart(series: Sequence[Series], fusion_points: dict[float, float]) -> str | None:
    """Healing over time: fractions (bone fraction, fusion probability; 0–1) on the left panel
    with their percentile bands, and subsidence (mm) on the right when the record has it."""
    fractions = [
        s
        for s in series
        if "subsid" not in s.name and s.values and 0.0 <= min(s.values) and max(s.values) <= 1.0
    ]
    subs = [
        s
        for s in series
        if "subsid" in s.name
        and "prob" not in s.name
        and max(abs(v) for v in (*s.values, *(s.high or ())))
        > 0.0  # an all-zero panel says nothing
    ]
    if not fractions and not fusion_points and not subs:
        return None
    fig = new_figure(6.8, 3.6)
    ratios = [1.6, 1.0] if subs else [1.0]
    axes = fig.subplots(1, len(ratios), squeeze=False, width_ratios=ratios)[0]
    ax = axes[0]
    for s in fractions[:6]:
        label = s.name.replace("_", " ") + (f" ({s.label})" if s.label else "")
        (line,) = ax.plot(s.months, s.values, lw=1.8, label=label)
        if s.low is not None and s.high is not None:
            ax.fill_between(s.months, s.low, s.high, color=line.get_color(), alpha=0.15, lw=0)
    if fusion_points:
        ms, ps = zip(*sorted(fusion_points.items()), strict=True)
        ax.plot(ms, ps, "o", color=GOOD, ms=7, label="P(fused) at the reported months")
        for m, p in zip(ms, ps, strict=True):
            ax.annotate(
                f"{100 * p:.0f} %",
                (m, p),
                xytext=(0, -12),
                textcoords="offset points",
                ha="center",
                fontsize=8,
            )
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("months after surgery")
    ax.set_ylabel("fraction (0–1)")
    ax.legend(frameon=False, fontsize=6.5, loc="upper left", bbox_to_anchor=(0.0, -0.22), ncols=2)
    ax.spines[["top", "right"]].set_visible(False)
    if subs:
        bx = axes[1]
        for s in subs[:4]:
            (line,) = bx.plot(s.months, s.values, lw=1.8, label=f"median ({s.label})")
            if s.high is not None:
                bx.plot(
                    s.months, s.high, lw=1, ls="--", color=line.get_color(), label="90th percentile"
                )
        bx.set_xlabel("months after surgery")
        bx.set_ylabel("cage subsidence (mm)")
        bx.legend(frameon=False, fontsize=7)
        bx.spines[["top", "right"]].set_visible(False)
    return data_uri(fig)


@remembered
def risk_chart(items: Sequence[Risk]) -> str | None:
    """Horizontal bars of complication risk (%) with intervals; a tick marks the average patient."""
    if not items:
        return None
    items = sorted(items, key=lambda r: r.probability)
    fig = new_figure(6.4, 0.42 * len(items) + 1.3)
    ax = fig.add_subplot()
    y = np.arange(len(items))
    p = np.array([100 * r.probability for r in items])
    ax.barh(y, p, color=ACCENT, height=0.55, label="this patient")
    lo = np.array([100 * (r.low if r.low is not None else r.probability) for r in items])
    hi = np.array([100 * (r.high if r.high is not None else r.probability) for r in items])
    if np.any(hi > lo):
        ax.errorbar(
            p,
            y,
            xerr=[p - lo, hi - p],
            fmt="none",
            ecolor="black",
            capsize=3,
            lw=1,
            label="95 % interval",
        )
    avg = [(i, 100 * r.average) for i, r in enumerate(items) if r.average is not None]
    if avg:
        ai, av = zip(*avg, strict=True)
        ax.plot(av, ai, "|", color=PLANNED, ms=16, mew=2.5, label="average patient")
    for yi, pi in zip(y, p, strict=True):
        ax.annotate(f"{pi:.1f} %", (pi, yi), xytext=(4, -9), textcoords="offset points", fontsize=7)
    labels = [
        textwrap.fill(r.name.replace("_", " ") + (f" ({r.horizon})" if r.horizon else ""), 34)
        for r in items
    ]
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlabel("probability (%)")
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.12), ncols=3)
    ax.spines[["top", "right"]].set_visible(False)
    return data_uri(fig)


@remembered
def pro_chart(
    series: Sequence[Series], baseline: float | None, mcid_points: float, instrument: str = "ODI"
) -> str | None:
    """Patient-reported outcome over time (points) with its band where given, and the band of a
    change smaller than the MCID below the baseline shaded: a result under the band is a
    meaningful improvement."""
    if not series:
        return None
    fig = new_figure(6.4, 3.1)
    ax = fig.add_subplot()
    end = max(max(s.months) for s in series)
    if baseline is not None:
        ax.axhspan(
            baseline - mcid_points,
            baseline,
            color="#f3d9a4",
            alpha=0.6,
            label=f"change < MCID ({mcid_points:g} points)",
        )
        ax.axhline(baseline, color="grey", lw=0.8, ls="--")
    for s in series[:4]:
        (line,) = ax.plot(
            s.months, s.values, lw=2, marker="o", ms=3, label=_pro_label(s, instrument)
        )
        if s.low is not None and s.high is not None:
            ax.fill_between(
                s.months,
                s.low,
                s.high,
                color=line.get_color(),
                alpha=0.12,
                lw=0,
                label="5th–95th percentile",
            )
    ax.set_xlim(0, end * 1.02)
    ax.set_xlabel("months after surgery")
    ax.set_ylabel(f"{instrument} (lower is better)")
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.2), ncols=3)
    ax.spines[["top", "right"]].set_visible(False)
    return data_uri(fig)


def _pro_label(s: Series, instrument: str) -> str:
    name = s.name.replace("_", " ")
    if name.lower() == instrument.lower():
        return f"forecast {instrument}"
    return name + (f" ({s.label})" if s.label and s.label.lower() not in name.lower() else "")


_KIND_COLOUR = {
    "phase": ACCENT,
    "restriction": PLANNED,
    "work": GOOD,
    "visit": "#7f8c8d",
    "mobilise": GOOD,
    "step": ACCENT,
}


@remembered
def timeline_chart(milestones: Sequence[Milestone]) -> str | None:
    """The recovery pathway on a time line (weeks after surgery): phases and restrictions as
    bars from start to end, single events as dots."""
    if not milestones:
        return None
    fig = new_figure(6.8, 0.26 * len(milestones) + 0.9)
    ax = fig.add_subplot()
    y = np.arange(len(milestones))[::-1]
    end = max(max(m.week, m.until or 0.0) for m in milestones)
    for yi, m in zip(y, milestones, strict=True):
        colour = _KIND_COLOUR.get(m.kind, ACCENT)
        start = max(m.week, 0.0)
        if m.until is not None and m.until > start:
            ax.barh(yi, m.until - start, left=start, height=0.5, color=colour, alpha=0.75)
            x_text = m.until
        else:
            ax.plot(start, yi, "o", color=colour)
            x_text = start
        ax.annotate(m.what, (x_text, yi), xytext=(5, -3), textcoords="offset points", fontsize=7)
    ax.set_yticks([])
    # square-root time axis: the first weeks, when most happens, get the room they need
    ax.set_xscale("function", functions=(np.sqrt, np.square))
    ax.set_xlim(0, max(end * 1.6, 4))
    ticks = [t for t in (0, 1, 2, 4, 6, 8, 12, 16, 26, 52, 78, 104, 156) if t <= end * 1.6]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("weeks after surgery")
    ax.spines[["top", "right", "left"]].set_visible(False)
    return data_uri(fig)
