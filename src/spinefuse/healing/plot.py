"""Figure of a healing course: bone in the graft regions, stiffness against radiographic fusion,
rod unloading and fatigue, and cage subsidence, month by month."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from spinefuse.healing.course import HealingCourse  # noqa: E402
from spinefuse.records import write_atomic  # noqa: E402


def plot_course(course: HealingCourse, path: str | Path) -> Path:
    """Draw the time courses of the simulated segment to ``path`` (PNG, SVG or PDF by suffix),
    written atomically; returns the path."""
    seg = course.segments[0]
    t = np.asarray(seg.months)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    ax = axes[0, 0]
    for region in seg.regions:
        line = ax.plot(t, region.bone_fraction_median, label=f"{region.region} (median)")
        ax.fill_between(
            t,
            region.bone_fraction_p10,
            region.bone_fraction_p90,
            color=line[0].get_color(),
            alpha=0.2,
            label=f"{region.region} (10–90 %)",
        )
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set_ylabel("bone fraction of graft region")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)

    ax = axes[0, 1]
    k = np.asarray(seg.stiffness_nmm_per_rad_median)
    ax.plot(t, 1.0 - k[0] / k, label="motion removed since surgery (1 − K₀/K, median)")
    ax.plot(t, seg.fusion_probability, label="P(radiographic fusion)")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("fraction")
    ax.legend(fontsize=8)

    ax = axes[1, 0]
    ax.plot(t, seg.rod_stress_mpa_median, color="C3", label="peak rod stress (median)")
    ax.set_ylabel("rod stress, MPa")
    ax.set_xlabel("months after surgery")
    twin = ax.twinx()
    damage = np.maximum(np.asarray(seg.rod_damage_p90), 1e-12)
    twin.semilogy(t, damage, color="C4", ls="--", label="rod Miner damage (90th pct; breaks at 1)")
    twin.set_ylim(1e-12, 10.0)
    ax.legend(loc="upper right", fontsize=8)
    twin.legend(loc="center right", fontsize=8)

    ax = axes[1, 1]
    ax.plot(t, seg.subsidence_mm_median, label="median")
    ax.plot(t, seg.subsidence_mm_p90, ls="--", label="90th percentile")
    ax.set_ylabel("cage subsidence, mm")
    ax.set_xlabel("months after surgery")
    ax.legend(fontsize=8)

    p = course.fusion_probability
    fig.suptitle(
        f"{course.case_id} {seg.segment} {course.technique}, {course.graft}: fused "
        + ", ".join(f"{m} mo {v:.0%}" for m, v in sorted(p.items()))
        + f"; non-union {course.nonunion_probability:.0%}",
        fontsize=10,
    )
    fig.tight_layout(w_pad=3.0)
    out = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=out.suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)
    return write_atomic(out, buf.getvalue())
