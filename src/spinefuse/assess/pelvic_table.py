"""Pelvic parameters of a table of patients: the PI = PT + SS check and the SRS-Schwab PT and
PI–LL modifiers for every row, vectorised. Rows that break the identity beyond the stated
tolerance are reported as inconsistent, never corrected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spinefuse.assess.criteria import block
from spinefuse.assess.sagittal import schwab_grades
from spinefuse.errors import ParameterError

COLUMNS = {
    "pelvic_incidence": "pelvic_incidence",
    "pelvic_tilt": "pelvic_tilt",
    "sacral_slope": "sacral_slope",
    "lumbar_lordosis": "lumbar_lordosis_angle",
}
"""Our names -> the UCI vertebral-column column names (also accepted as-is)."""


def pelvic_table(table: pd.DataFrame, tolerance_deg: float | None = None) -> pd.DataFrame:
    """Per row: ``identity_residual_deg`` (PI − PT − SS), ``consistent`` (|residual| within
    ``tolerance_deg``, default from the criteria file), ``pi_ll_deg``, ``pt_modifier`` and
    ``pi_ll_modifier`` ('0', '+', '++'). Angles in degrees; the input is not modified."""
    tol = float(
        block("sagittal")["identity_tolerance_deg"] if tolerance_deg is None else tolerance_deg
    )
    if not tol >= 0:
        raise ParameterError(f"tolerance_deg = {tolerance_deg}: must be >= 0")
    cols = {}
    for ours, uci in COLUMNS.items():
        name = ours if ours in table.columns else uci
        if name not in table.columns:
            raise ParameterError(
                f"table lacks column {ours!r} (or {uci!r}); it has "
                f"{', '.join(map(str, table.columns))}"
            )
        cols[ours] = pd.to_numeric(table[name], errors="coerce").to_numpy(float)
    pi, pt, ss, ll = (cols[k] for k in COLUMNS)
    residual = pi - pt - ss
    cuts = block("schwab")
    return pd.DataFrame(
        {
            "identity_residual_deg": residual,
            "consistent": np.isfinite(residual) & (np.abs(residual) <= tol),
            "pi_ll_deg": pi - ll,
            "pt_modifier": schwab_grades(pt, cuts["pt_deg"]),
            "pi_ll_modifier": schwab_grades(pi - ll, cuts["pi_ll_deg"]),
        },
        index=table.index,
    )


def read_pelvic_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV of pelvic parameters (e.g. the UCI vertebral-column table)."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"{path}: no such table")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ParameterError(f"{path}: not a readable CSV table ({err})") from None
