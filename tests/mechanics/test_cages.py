"""The cage's pre-load from the disc's tension law, and the footprint of a lateral cage, against
the literature their parameters come from (mechanics_calibration.yaml)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from spinefuse.errors import ParameterError
from spinefuse.mechanics.constructs import Construct, parse_constructs
from spinefuse.mechanics.elements import disc_axial_law
from spinefuse.mechanics.parameters import parameters
from spinefuse.mechanics.reference import reference_geometry
from spinefuse.mechanics.simulation import direction_response

# 22 human lumbar motion segments after an anterior lumbar discectomy, peak distraction force
# (N, mean and SD): 'Relaxation response of lumbar segments undergoing disc-space distraction:
# implications to the stability of anterior lumbar interbody implants', Spine (abstract)
MEASURED_N = {2.0: (204.9, 55.5), 4.0: (431.8, 116.4)}


def _set(node: dict[str, Any], key: str, v: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(node, key, {**node[key], "value": v})


def _distraction_force(specs: list[str], seg: str, mm: float, mp: pytest.MonkeyPatch) -> float:
    """The cage's force at rest (N) when it is ``mm`` taller than the disc space of an FSU."""
    _set(parameters()["cage"], "default_distraction_mm", mm, mp)
    fp = parameters()["cage"]["footprints"]["alif"]
    _set(fp, "distraction_mm", mm, mp)
    r = direction_response(
        [reference_geometry()],
        [parse_constructs(specs)],
        7.5,
        segments=(seg,),
        neutral_zone=False,
    )
    return float(r.solution.rest_cage_force_n[0, 0])


def test_the_disc_law_is_softer_in_tension_and_smooth() -> None:
    k0, k2, kt, toe = np.full(5, 300.0), 622.0, np.full(5, 100.0), 0.05
    d = np.array([-0.4, -0.2, -0.02, 0.0, 0.3])
    f, slope = disc_axial_law(d, k0, k2, kt, toe)
    f_mirror, _ = disc_axial_law(d, k0, k2)
    # compression unchanged; beyond the toe the tension slope is the tensile stiffness
    assert f[-1] == pytest.approx(f_mirror[-1]) and f[3] == 0.0
    assert slope[:2] == pytest.approx([100.0, 100.0])
    assert f[0] == pytest.approx(-100.0 * 0.4 - 200.0 * toe / 2.0)
    # C1 at both ends of the toe (the slope is the force's derivative everywhere)
    for x in (-toe, 0.0):
        xs = np.array([x - 1e-7, x + 1e-7])
        fx, sx = disc_axial_law(xs, k0[:2], k2, kt[:2], toe)
        assert (fx[1] - fx[0]) / 2e-7 == pytest.approx(sx[0], rel=1e-3)
        assert sx[0] == pytest.approx(sx[1], rel=1e-3)


@pytest.mark.parametrize("mm", [2.0, 4.0])
def test_an_anteriorly_discectomised_segment_holds_apart_as_measured(
    mm: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model's L3-L4 FSU with its nucleus, the ALIF window and the ALL removed, distracted
    by a cage ``mm`` taller than the space: within the measured mean ± 1 SD."""
    force = _distraction_force(["cage:L3-L4:alif"], "L3-L4", mm, monkeypatch)
    mean, sd = MEASURED_N[mm]
    assert abs(force - mean) <= sd, force


def test_the_cleared_discs_tensile_stiffness_sets_the_pre_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    disc = parameters()["disc"]
    base = _distraction_force(["cage:L3-L4:llif"], "L3-L4", 1.0, monkeypatch)
    k = disc["cleared_tensile_stiffness_n_per_mm"]["value"]
    _set(disc, "cleared_tensile_stiffness_n_per_mm", 2.0 * k, monkeypatch)
    stiffer = _distraction_force(["cage:L3-L4:llif"], "L3-L4", 1.0, monkeypatch)
    # the annulus left by the lateral window (85 %) takes 1 mm x the added stiffness more
    assert stiffer - base == pytest.approx(k * 0.85, rel=0.1)
    # the compression law's stiffness mirrored into tension would pre-load it over 2x more
    mirrored = disc["axial_stiffness_n_per_mm"]["value"]
    _set(disc, "cleared_tensile_stiffness_n_per_mm", mirrored, monkeypatch)
    assert _distraction_force(["cage:L3-L4:llif"], "L3-L4", 1.0, monkeypatch) > 2.0 * base


def test_an_intact_disc_keeps_its_compression_law_in_tension() -> None:
    """The tension law applies once the nucleus is cleared: an intact segment's response does
    not depend on it."""
    g = reference_geometry()
    before = direction_response([g], [Construct()], 7.5, neutral_zone=False).rotation_rad
    disc = parameters()["disc"]
    with pytest.MonkeyPatch.context() as mp:
        _set(disc, "cleared_tensile_stiffness_n_per_mm", 1.0, mp)
        after = direction_response([g], [Construct()], 7.5, neutral_zone=False).rotation_rad
    np.testing.assert_allclose(after, before, rtol=1e-12)


def test_a_lateral_cage_spans_the_endplate_and_holds_lateral_bending_tighter() -> None:
    """The default lateral cage is as long as the lower endplate is wide (it spans the ring
    apophysis); the 45 mm cage that falls short of it lets the segment bend more."""
    from spinefuse.mechanics.constructs import CageSpec, cage_construct
    from spinefuse.mechanics.model import build_model

    g = reference_geometry()
    spanning = parse_constructs(["cage:L3-L4:llif"])
    short = cage_construct(CageSpec(segment="L3-L4", technique="llif", width_mm=45.0))
    model = build_model([g, g], [spanning, short])
    width = g.vertebra("L4").superior.width_mm
    assert width > 45.0
    depth = parameters()["cage"]["footprints"]["llif"]["depth_mm"]
    assert model.segment("L3-L4").cage_area == pytest.approx([width * depth, 45.0 * depth])
    r = direction_response([g, g], [spanning, short], 7.5, model=model)
    lb = r.rotation_rad[:, 2:4, r.segments.index("L3-L4")]
    assert (lb[0] < lb[1]).all()


@pytest.mark.parametrize(
    ("entry", "bad", "words"),
    [
        ("cleared_tensile_stiffness_n_per_mm", -10.0, "must be above 0"),
        ("cleared_tensile_stiffness_n_per_mm", 5000.0, "must be at most 600"),
        ("tension_toe_mm", 0.0, "must be above 0"),
    ],
)
def test_an_impossible_tension_law_entry_is_refused_by_name(
    entry: str, bad: float, words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _set(parameters()["disc"], entry, bad, monkeypatch)
    with pytest.raises(ParameterError, match=rf"disc\.{entry} = {bad:g} {words}"):
        _distraction_force(["cage:L3-L4:alif"], "L3-L4", 2.0, monkeypatch)


def test_a_negative_cage_distraction_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(parameters()["cage"]["footprints"]["alif"], "distraction_mm", -1.0, monkeypatch)
    with pytest.raises(
        ParameterError, match=r"cage\.footprints\.alif\.distraction_mm = -1 must be at least 0"
    ):
        direction_response(
            [reference_geometry()],
            [parse_constructs(["cage:L3-L4:alif"])],
            7.5,
            segments=("L3-L4",),
        )
