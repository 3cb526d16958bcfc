"""The fused segment's response to a maturing fusion mass (the healing stage's input)."""

from __future__ import annotations

import numpy as np
import pytest

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.errors import ParameterError
from spinefuse.mechanics import simulate
from spinefuse.mechanics.fusion import fused_segment_response, octahedral_shear_strain
from spinefuse.mechanics.reference import reference_geometry
from spinefuse.mechanics.result import FUSION_LOAD_CASES
from spinefuse.plan.surgical_plan import SurgicalPlan

from .conftest import PlanFactory

PHI = np.array([0.0, 0.3, 1.0])


def test_fusion_mass_stiffens_the_segment_and_unloads_graft_and_rods(
    plan_factory: PlanFactory,
) -> None:
    g = reference_geometry()
    tlif = plan_factory(g, ["L4-L5"])
    plf = plan_factory(g, ["L3-L4", "L4-L5"], technique="PLF")
    r = fused_segment_response([g, g], [tlif, plf], PHI)
    assert r.graft_strain.shape == (2, 3, len(FUSION_LOAD_CASES))
    assert r.segment_stiffness_nmm_per_rad.shape == (2, 3)
    assert r.segments[0] == "L4-L5" and r.segments[1] in ("L3-L4", "L4-L5")
    np.testing.assert_array_equal(r.fusion_fraction, PHI)
    # a maturing bone bridge: stiffer, less motion, less graft strain, lower rod moments
    assert (np.diff(r.segment_stiffness_nmm_per_rad, axis=1) > 0).all()
    moving = slice(2, None)  # the four moment cases
    assert (r.segment_rotation_rad[:, -1, moving] < r.segment_rotation_rad[:, 0, moving]).all()
    assert (r.graft_strain[:, -1] < r.graft_strain[:, 0]).all()
    # with an interbody fusion mass in front of the rods, the rods are unloaded in every case
    assert (r.rod_moment_nmm[0, -1] < 0.5 * r.rod_moment_nmm[0, 0]).all()
    # a cage carries load in the TLIF patient, none in the posterolateral-only one
    assert (r.cage_pressure_mpa[0, 0] > 0.05).all()
    assert (r.cage_pressure_mpa[1] == 0.0).all()
    assert (r.graft_fluid_velocity_um_s >= 0.0).all()
    # rod stresses stay far below the titanium fatigue limit (~500 MPa) in daily loads
    assert (r.rod_stress_mpa < 300.0).all()


def test_octahedral_shear_strain_of_pure_shear_and_uniaxial_strain() -> None:
    # pure engineering shear γ: γ_oct = (2/3)·√(1.5)·γ = 0.8165 γ
    assert octahedral_shear_strain(np.array(0.0), np.array(0.03), 0.3) == pytest.approx(
        0.8165 * 0.03, rel=1e-4
    )
    # uniaxial ε with lateral −νε: γ_oct = (2√2/3)(1+ν)ε
    assert octahedral_shear_strain(np.array(0.01), np.array(0.0), 0.5) == pytest.approx(
        2 * np.sqrt(2) / 3 * 1.5 * 0.01
    )


def test_bad_fusion_fraction_is_refused(plan_factory: PlanFactory) -> None:
    g = reference_geometry()
    with pytest.raises(ParameterError, match="fusion_fraction"):
        fused_segment_response([g], [plan_factory(g, ["L4-L5"])], np.array([1.2]))


def test_solving_only_the_fused_segment_matches_the_whole_spine(
    plan_factory: PlanFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spinefuse.mechanics.fusion as fusion
    from spinefuse.conventions import LUMBAR_SEGMENTS

    g = reference_geometry()
    plan = plan_factory(g, ["L4-L5"])
    phi = np.array([0.0, 1.0])
    fast = fused_segment_response([g], [plan], phi)
    whole = fusion.build_model
    monkeypatch.setattr(
        fusion,
        "build_model",
        lambda gs, cs, segments=None, **kw: whole(gs, cs, LUMBAR_SEGMENTS, **kw),
    )
    full = fused_segment_response([g], [plan], phi)
    np.testing.assert_allclose(fast.segment_rotation_rad, full.segment_rotation_rad, rtol=0.05)
    np.testing.assert_allclose(fast.rod_moment_nmm, full.rod_moment_nmm, rtol=0.05)


def _tlif_with_cage_height(
    plan_factory: PlanFactory, g: SpineGeometry, change_mm: float
) -> SurgicalPlan:
    plan = plan_factory(g, ["L4-L5"])
    height = g.disc("L4-L5").middle_height_mm + change_mm
    return plan.model_copy(
        update={"cages": [plan.cages[0].model_copy(update={"height_mm": height})]}
    )


def test_a_cage_shorter_than_its_disc_space_is_seated_and_shields_the_graft(
    plan_factory: PlanFactory,
) -> None:
    """A planned cage 1.5 mm shorter than the disc space used to float: the discectomised disc
    carried the standing load alone and the graft strained ~8 % (1.2° of standing rotation).
    Seated on both endplates, the PEEK cage carries the compression and the graft is strain
    shielded: its octahedral shear strain stays in the Lacroix & Prendergast (2002) bone-forming
    range (S < 1: below 3.75 % with negligible fluid flow) in every daily load case, and the
    instrumented segment moves well under 1° in standing (in vivo telemetry, Rohlmann 1999)."""
    g = reference_geometry()
    plan = _tlif_with_cage_height(plan_factory, g, -1.5)
    r = fused_segment_response([g], [plan], np.array([0.0, 1.0]))
    stand = FUSION_LOAD_CASES.index("standing")
    area = plan.cages[0].width_mm * plan.cages[0].depth_mm
    # the cage takes most of the 500 N of standing (the cleared disc and the rods the rest)
    assert r.cage_pressure_mpa[0, 0, stand] * area > 0.7 * 500.0
    assert (r.graft_strain[0, 0] < 0.0375).all()
    assert r.graft_strain[0, 0, stand] < 0.02
    assert np.degrees(r.segment_rotation_rad[0, 0, stand]) < 0.25
    assert (r.graft_fluid_velocity_um_s[0, 0] < 0.3).all()  # S's flow term < 0.1


def test_the_daily_loads_act_on_the_cage_without_its_relaxed_distraction_preload(
    plan_factory: PlanFactory,
) -> None:
    """Just after surgery a cage 3 mm taller than the space holds the stretched annulus and
    ligaments: a pre-load of several hundred newtons (simulate, as in vitro). Over the weeks of
    healing that tension relaxes (cage.healing_pretension = 0): under the daily loads the cage
    carries the body's compression, no more, and the graft's height is the restored disc
    space."""
    g = reference_geometry()
    tall = _tlif_with_cage_height(plan_factory, g, 3.0)
    snug = _tlif_with_cage_height(plan_factory, g, 0.0)
    now = simulate(g, tall).implants.cages[0]
    assert now.rest_force_n > 300.0 and now.distraction_mm > 2.0
    r = fused_segment_response([g, g], [tall, snug], np.array([0.0, 1.0]))
    stand = FUSION_LOAD_CASES.index("standing")
    area = tall.cages[0].width_mm * tall.cages[0].depth_mm
    force = r.cage_pressure_mpa[:, 0, stand] * area
    assert force[0] < 500.0
    assert force[0] == pytest.approx(force[1], rel=0.02)
    # the same approach of the endplates over a taller graft: less strain
    h = g.disc("L4-L5").middle_height_mm
    ratio = r.graft_strain[0, 0, stand] / r.graft_strain[1, 0, stand]
    assert ratio == pytest.approx(h / (h + now.distraction_mm), rel=0.05)
