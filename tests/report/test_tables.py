"""Report tables: units in the headers, notes printed once, per-level matrices."""

from __future__ import annotations

from spinefuse.assess.assessment import Measurement
from spinefuse.report.tables import (
    Notes,
    fmt,
    level_matrix,
    measurement_rows,
    record_table,
    signed_percent,
)


def test_numbers_carry_units_and_no_negative_zero() -> None:
    assert fmt(18.04, 1, "%") == "18.0 %"
    assert fmt(-0.04, 1, "deg") == "0.0°"
    assert fmt(68.0, 0, "mm2") == "68 mm²"
    assert fmt(None) == "–"
    assert [signed_percent(x) for x in (-87.6, 0.3, 16.0, None)] == ["-88 %", "0 %", "+16 %", "–"]


def test_record_table_headers_name_the_units_and_notes_replace_sources() -> None:
    notes = Notes()
    rows = [
        {"side": "left", "bending_moment_nm": 1.4966, "stress_mpa": 95.667, "source": "Goodman"},
        {"side": "right", "bending_moment_nm": 1.5, "stress_mpa": 95.7, "source": "Goodman"},
    ]
    table = record_table(rows, notes)
    assert table is not None
    assert table["headers"] == ["side", "bending moment (N·m)", "stress (MPa)", "note"]
    assert table["rows"] == [["left", "1.5", "95.7", "1"], ["right", "1.5", "95.7", "1"]]
    assert notes.items == ["Goodman"]
    assert record_table([1, 2]) is None


def test_per_segment_measurements_form_a_matrix_with_flags() -> None:
    ms = [
        Measurement(
            name="slip_percent",
            value=v,
            unit="%",
            level=seg,
            normal_range=(-5.0, 5.0),
            method="Meyerding",
            source="Meyerding 1932",
        )
        for seg, v in (("L3-L4", 0.0), ("L4-L5", 18.0))
    ] + [Measurement(name="lumbar_lordosis", value=58.9, unit="deg", level="L1-S1")]
    notes = Notes()
    mx = level_matrix(ms, notes, "segment")
    assert mx is not None and mx["segments"] == ["L3-L4", "L4-L5"]
    (row,) = mx["rows"]
    assert [c["value"] for c in row["cells"]] == ["0.0", "18.0"]
    assert [c["flag"] for c in row["cells"]] == ["within", "above"]
    flat = measurement_rows(ms, notes)
    assert [r["name"] for r in flat] == ["lumbar lordosis"]  # the span L1-S1 is not a segment
    assert notes.items == ["Meyerding — Meyerding 1932", "spinefuse assess"]


def test_reference_values_carry_their_source() -> None:
    from spinefuse.report.reference import reference

    mcid = reference("odi_mcid")
    assert (mcid.value, mcid.unit, mcid.certainty) == (12.8, "points", "verified")
    assert "Copay" in mcid.source and "2008" in mcid.source
