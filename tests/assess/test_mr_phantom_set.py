"""MR measurements against the known truth of the synthetic MR phantom set: every grade recovered
(at least 90 % exact per category, the issue's bar), and the measured sizes within the stated
tolerances of what was drawn."""

from __future__ import annotations

from collections import defaultdict

import pytest

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.anatomy.mr_phantom import MrPhantom, phantom_series, render_mr
from spinefuse.anatomy.template import virtual_spine
from spinefuse.assess.assessment import Measurement
from spinefuse.assess.mr_measurements import measure_mr
from tests.assess.mr_phantoms import SAGITTAL_MM, SET, Score, score

Read = tuple[SpineGeometry, MrPhantom, list[Measurement]]


@pytest.fixture(scope="module")
def readings() -> list[Read]:
    out = []
    for k, (spec, path) in enumerate(SET):
        g = virtual_spine(spec)
        phantom = render_mr(g, path, sagittal_mm=SAGITTAL_MM, seed=k)
        out.append((g, phantom, measure_mr(phantom_series(phantom)).measurements))
    return out


def _scores(readings: list[Read]) -> list[Score]:
    return [s for g, ph, ms in readings for s in score(g, ph.pathology, ms)]


def test_every_grade_is_recovered_on_the_phantom_set(readings: list[Read]) -> None:
    scores = _scores(readings)
    by_category: dict[str, list[Score]] = defaultdict(list)
    for s in scores:
        by_category[s.category].append(s)
    table = {c: sum(s.exact for s in ss) / len(ss) for c, ss in by_category.items()}
    misses = [s for s in scores if not s.exact]
    assert set(table) == {
        "pfirrmann",
        "herniation class",
        "herniation zone",
        "schizas",
        "foraminal lee",
        "lateral recess",
        "modic",
        "facet effusion",
    }
    assert all(v >= 0.9 for v in table.values()), (table, misses)
    assert sum(s.exact for s in scores) / len(scores) >= 0.95, misses
    # every grade of every scale is in the set
    grades = {(s.category, s.truth) for s in scores}
    for g in ("I", "II", "III", "IV", "V"):
        assert ("pfirrmann", g) in grades
    for k in ("none", "bulge", "protrusion", "extrusion", "sequestration"):
        assert ("herniation class", k) in grades
    for g in "ABCD":
        assert ("schizas", g) in grades
    for g in "0123":
        assert ("foraminal lee", g) in grades and ("lateral recess", g) in grades
        assert ("modic", g) in grades
    zones = {s.truth.split()[0] for s in scores if s.category == "herniation zone"}
    assert zones == {"central", "subarticular", "foraminal", "extraforaminal"}


def _m(ms: list[Measurement], name: str, level: str, side: str | None = None) -> Measurement:
    for m in ms:
        if m.name == name and m.level == level and (side is None or m.detail.get("side") == side):
            return m
    raise KeyError((name, level, side))


def test_disc_heights_and_sac_areas_match_the_drawn_spine(readings: list[Read]) -> None:
    for g, ph, ms in readings:
        for seg, disc in g.discs.items():
            if seg in ph.pathology.herniation or disc.middle_height_mm < 5.0:
                continue
            # the mean thickness over the disc's middle: within 12 % of the drawn middle height
            assert _m(ms, "mr_disc_height", seg).value == pytest.approx(
                disc.middle_height_mm, rel=0.12
            ), seg
            # the canal label's section: within 12 % of the drawn dural sac (at 1.2 mm voxels)
            area = _m(ms, "mr_dural_sac_area", seg).value
            assert area == pytest.approx(ph.sac_area_mm2[seg], rel=0.12), seg


def test_herniation_recess_and_effusion_sizes(readings: list[Read]) -> None:
    for _, ph, ms in readings:
        path = ph.pathology
        for seg, h in path.herniation.items():
            if h.kind == "bulge":
                continue
            extent = max(m.value for m in ms if m.name == "herniation_extent" and m.level == seg)
            assert extent == pytest.approx(h.extent_mm, abs=2.0), seg  # 1.2 mm voxels
        for seg, sides in path.recess_depth_mm.items():
            for side, depth in sides.items():
                m = _m(ms, "lateral_recess_depth", seg, side)
                assert m.value == pytest.approx(depth, abs=1.25), (seg, side)
        for seg, sides in path.facet_effusion_mm.items():
            for side, width in sides.items():
                m = _m(ms, "facet_effusion_width", seg, side)
                assert m.value == pytest.approx(width, abs=1.0), (seg, side)


def test_each_measurement_names_its_method_and_source(readings: list[Read]) -> None:
    for _, _, ms in readings:
        for m in ms:
            assert m.method and m.source and m.detail["from"] == "MR", m.name
