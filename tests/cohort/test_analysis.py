import numpy as np
import pandas as pd
import pytest

from spinefuse.cohort.analysis import _wilson, compare, summarise, write_summary_html


def _results() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    base = rng.normal(30, 10, n)
    rows = []
    for arm, shift, p in [("A", 0.0, 0.2), ("B", -5.0, 0.1)]:
        rows.append(
            pd.DataFrame(
                {
                    "arm": arm,
                    "patient": np.arange(n),
                    "odi_12m": base + shift,
                    "nonunion": rng.random(n) < p,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_wilson_interval_matches_the_textbook_value() -> None:
    # Wilson 95 % interval for 10/100: 0.0552 to 0.1744 (Newcombe 1998, Stat Med 17:857, table I)
    lo, hi = _wilson(10, 100)
    assert lo == pytest.approx(0.0552, abs=5e-4) and hi == pytest.approx(0.1744, abs=5e-4)


def test_summary_and_paired_difference() -> None:
    res = _results()
    s = summarise(res).set_index(["arm", "outcome"])
    assert s.loc[("A", "nonunion"), "kind"] == "proportion"
    assert s.loc[("B", "odi_12m"), "estimate"] == pytest.approx(res[res.arm == "B"].odi_12m.mean())
    d = compare(res, "A").set_index("outcome")
    # the same patients shifted by exactly -5: the paired difference has no spread at all
    assert d.loc["odi_12m", "difference"] == pytest.approx(-5.0)
    assert d.loc["odi_12m", "ci_high"] - d.loc["odi_12m", "ci_low"] == pytest.approx(0, abs=1e-9)
    assert d.loc["nonunion", "ci_low"] < d.loc["nonunion", "difference"] < 0


def test_html_summary_is_self_contained(tmp_path) -> None:
    res = _results()
    res["fusion_probability_6m"] = 0.5
    res["fusion_probability_12m"] = 0.8
    p = write_summary_html(res, tmp_path / "summary.html", "demo", reference="A")
    text = p.read_text()
    assert "Differences against A" in text and text.count("data:image/png;base64,") == 2
    assert "http://" not in text and "https://" not in text
