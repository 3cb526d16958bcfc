"""The picture of the lumbar nerve roots and the compressions the imaging shows, for the surgeon:
the lumbar column seen from behind, each root leaving below its own pedicle on each side, the
roots the examination points at drawn thick (green when a compression explains them, orange when
none does), and each compression marked at its level, zone and side (red when the examination
supports it, grey when it does not)."""

from __future__ import annotations

from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from spinefuse.assess.assessment import Concordance
from spinefuse.conventions import parse_segment
from spinefuse.report.figures import ACCENT, GOOD, INTACT, PLANNED, data_uri, new_figure
from spinefuse.report.picture_store import remembered

LEVELS = ("L1", "L2", "L3", "L4", "L5", "S1")
ZONE_X = {"central": 0.0, "subarticular": 0.3, "foraminal": 0.75, "extraforaminal": 1.3}
WARN = "#e08a00"


def _y(name: str) -> float:
    return -float(LEVELS.index(name))


@remembered
def root_map(c: Concordance) -> str | None:
    """The roots and compressions of a concordance as a PNG data URI (None when empty)."""
    if not c.roots and not c.compressions:
        return None
    fig = new_figure(4.6, 4.4)
    ax = fig.add_subplot()
    for name in LEVELS:
        y = _y(name)
        height = 0.55 if name != "S1" else 0.7
        ax.add_patch(Rectangle((-0.35, y - height / 2), 0.7, height, color="#e6e9ed", zorder=1))
        ax.text(0, y, name, ha="center", va="center", fontsize=8, color="#444", zorder=2)
    for upper in LEVELS[:-1]:
        ax.add_patch(Rectangle((-0.3, _y(upper) - 0.66), 0.6, 0.32, color="#c9d6e3", zorder=1))
    state: dict[tuple[str, str], bool] = {}
    for r in c.roots:
        sides = ("left", "right") if r.side == "bilateral" else (r.side,)
        for side in sides:
            good = state.get((r.root, side), True) and r.explained
            state[(r.root, side)] = good
    for name in LEVELS:
        for side, sign in (("left", -1.0), ("right", 1.0)):
            y = _y(name)
            xs = [sign * 0.25, sign * 0.55, sign * 1.6]
            ys = [y + 0.6, y - 0.3, y - 0.75]
            key = (name, side)
            if key in state:
                colour, width = (GOOD if state[key] else WARN), 3.0
            else:
                colour, width = INTACT, 1.0
            ax.plot(xs, ys, color=colour, lw=width, solid_capstyle="round", zorder=3)
            ax.text(sign * 1.72, y - 0.78, name, fontsize=6, ha="center", va="center", color="#555")
    for comp in c.compressions:
        upper, _ = parse_segment(comp.level)
        if upper not in LEVELS:
            continue
        y = _y(upper) - 0.5  # the disc of the segment
        sides = ("left", "right") if comp.side == "bilateral" else (comp.side,)
        for side in sides:
            sign = -1.0 if side == "left" else 1.0
            x = sign * ZONE_X.get(comp.zone or "central", 0.0)
            colour = PLANNED if comp.supported else "#7f8c8d"
            ax.scatter([x], [y], s=120, marker="X", color=colour, edgecolor="white", zorder=5)
    ax.text(-1.2, 0.75, "left", fontsize=8, ha="center", color=ACCENT)
    ax.text(1.2, 0.75, "right", fontsize=8, ha="center", color=ACCENT)
    handles = [
        Line2D([], [], color=GOOD, lw=3, label="symptomatic root, explained"),
        Line2D([], [], color=WARN, lw=3, label="symptomatic root, not explained"),
        Line2D([], [], color=PLANNED, marker="X", lw=0, label="compression the exam supports"),
        Line2D([], [], color="#7f8c8d", marker="X", lw=0, label="compression the exam does not"),
    ]
    ax.legend(
        handles=handles,
        fontsize=6,
        frameon=False,
        loc="lower center",
        ncols=2,
        bbox_to_anchor=(0.5, -0.16),
    )
    ax.set_xlim(-1.9, 1.9)
    ax.set_ylim(-5.9, 1.0)
    ax.set_aspect("equal")
    ax.axis("off")
    return data_uri(fig)
