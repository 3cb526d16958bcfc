"""Analysis of a virtual trial: per-arm summaries with confidence intervals, paired differences
between arms, plots, and an HTML summary.

Binary outcomes (bool columns) are summarised as proportions with Wilson 95 % intervals; numeric
outcomes as means with t-based 95 % intervals. Because every virtual patient goes through every
arm, differences between arms are paired: the interval is that of the per-patient differences.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from spinefuse.records import write_atomic

Z95 = float(stats.norm.ppf(0.975))
ID_COLUMNS = ("arm", "patient")


def _wilson(k: float, n: int) -> tuple[float, float]:
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * np.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return (float(centre - half), float(centre + half))


def _mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return (float("nan"),) * 3
    m = float(x.mean())
    if n < 2:
        return (m, float("nan"), float("nan"))
    half = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return (m, m - half, m + half)


def outcome_columns(results: pd.DataFrame) -> list[str]:
    """The outcome columns: every bool or numeric column that is not an input of the patient."""
    inputs = {
        "patient",
        "age_years",
        "height_cm",
        "weight_kg",
        "bmi",
        "pelvic_incidence_deg",
        "lumbar_lordosis_deg",
        "trabecular_hu",
        "slip_percent",
        "baseline_odi",
        "depression",
        "preop_opioid_use",
        "workers_compensation",
        "asa_class",
        "revision",
        "back_pain_nrs",
        "leg_pain_nrs",
        "local_bone_share",
        "nsaids",
    }
    return [
        c
        for c in results.columns
        if c not in inputs
        and c not in ID_COLUMNS
        and (pd.api.types.is_bool_dtype(results[c]) or pd.api.types.is_numeric_dtype(results[c]))
    ]


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Per arm and outcome: n, estimate, 95 % CI low and high, and the kind (proportion/mean)."""
    rows = []
    for arm, group in results.groupby("arm", sort=False):
        for col in outcome_columns(results):
            x = group[col].to_numpy()
            if results[col].dtype == bool:
                k, n = int(x.sum()), int(x.size)
                lo, hi = _wilson(k, n)
                rows.append((arm, col, "proportion", n, k / n if n else np.nan, lo, hi))
            else:
                m, lo, hi = _mean_ci(x.astype(float))
                rows.append((arm, col, "mean", int(np.isfinite(x.astype(float)).sum()), m, lo, hi))
    return pd.DataFrame(
        rows, columns=["arm", "outcome", "kind", "n", "estimate", "ci_low", "ci_high"]
    )


def compare(results: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Paired differences of every other arm minus ``reference``, per outcome, with 95 % CIs."""
    wide = results.set_index(["patient", "arm"])
    rows = []
    for arm in results["arm"].unique():
        if arm == reference:
            continue
        for col in outcome_columns(results):
            a = wide[col].xs(arm, level="arm").astype(float)
            b = wide[col].xs(reference, level="arm").astype(float)
            d = (a - b).dropna().to_numpy()
            m, lo, hi = _mean_ci(d)
            rows.append((arm, reference, col, d.size, m, lo, hi))
    return pd.DataFrame(
        rows, columns=["arm", "reference", "outcome", "n_pairs", "difference", "ci_low", "ci_high"]
    )


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def figures(results: pd.DataFrame) -> dict[str, str]:
    """Base64 PNG figures: outcome distributions by arm, and fusion-probability curves by arm
    (from columns named ``fusion_probability_<months>m``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    curve_cols = sorted(
        (c for c in results.columns if c.startswith("fusion_probability_") and c.endswith("m")),
        key=lambda c: float(c.removeprefix("fusion_probability_").removesuffix("m")),
    )
    if curve_cols:
        months = [
            float(c.removeprefix("fusion_probability_").removesuffix("m")) for c in curve_cols
        ]
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for arm, g in results.groupby("arm", sort=False):
            mean = g[curve_cols].mean().to_numpy()
            sem = g[curve_cols].std().to_numpy() / np.sqrt(len(g))
            ax.plot(months, mean * 100, marker="o", label=str(arm))
            ax.fill_between(months, (mean - Z95 * sem) * 100, (mean + Z95 * sem) * 100, alpha=0.2)
        ax.set_xlabel("months after surgery")
        ax.set_ylabel("probability of radiographic fusion (%)")
        ax.set_ylim(0, 100)
        ax.legend()
        ax.grid(alpha=0.3)
        out["fusion_curves"] = _png(fig)
    numeric = [
        c for c in outcome_columns(results) if results[c].dtype != bool and c not in curve_cols
    ][:8]
    if numeric:
        cols = 2
        rows_n = (len(numeric) + 1) // 2
        fig, axes = plt.subplots(rows_n, cols, figsize=(8, 2.6 * rows_n), squeeze=False)
        for ax, col in zip(axes.flat, numeric, strict=False):
            for arm, g in results.groupby("arm", sort=False):
                ax.hist(g[col].dropna(), bins=30, alpha=0.5, label=str(arm))
            ax.set_title(col, fontsize=9)
        for ax in list(axes.flat)[len(numeric) :]:
            ax.set_visible(False)
        axes.flat[0].legend(fontsize=8)
        fig.tight_layout()
        out["distributions"] = _png(fig)
    return out


def write_summary_html(
    results: pd.DataFrame, path: Path, title: str, reference: str | None = None
) -> Path:
    """A self-contained HTML summary: tables of per-arm estimates and differences, and plots."""
    summary = summarise(results)
    reference = reference or str(results["arm"].iloc[0])
    diffs = compare(results, reference)
    figs = figures(results)
    arms = ", ".join(map(str, results["arm"].unique()))
    fmt = {"estimate": "{:.4g}", "ci_low": "{:.4g}", "ci_high": "{:.4g}", "difference": "{:.4g}"}

    def table(df: pd.DataFrame) -> str:
        text: str = df.to_html(
            index=False,
            formatters={k: v.format for k, v in fmt.items() if k in df.columns},
            border=0,
        )
        return text

    imgs = "".join(
        f"<h3>{html.escape(k.replace('_', ' '))}</h3>"
        f'<img alt="{html.escape(k)}" src="data:image/png;base64,{v}">'
        for k, v in figs.items()
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}
table{{border-collapse:collapse}}
td,th{{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}}</style></head><body>
<h1>Virtual trial: {html.escape(title)}</h1>
<p>{results["patient"].nunique()} virtual patients, arms: {html.escape(arms)}.
Proportions with Wilson 95 % intervals; means with t 95 % intervals; differences are paired
(each virtual patient went through every arm).</p>
<h2>Per arm</h2>{table(summary)}
<h2>Differences against {html.escape(reference)}</h2>{table(diffs)}
<h2>Figures</h2>{imgs}</body></html>"""
    return write_atomic(path, page)
