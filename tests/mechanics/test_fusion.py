"""The fused segment's response to a maturing fusion mass (the healing stage's input)."""

from __future__ import annotations

import numpy as np
import pytest

from spinefuse.errors import ParameterError
from spinefuse.mechanics.fusion import fused_segment_response, octahedral_shear_strain
from spinefuse.mechanics.reference import reference_geometry
from spinefuse.mechanics.result import FUSION_LOAD_CASES

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
        fusion, "build_model", lambda gs, cs, segments=None: whole(gs, cs, LUMBAR_SEGMENTS)
    )
    full = fused_segment_response([g], [plan], phi)
    np.testing.assert_allclose(fast.segment_rotation_rad, full.segment_rotation_rad, rtol=0.05)
    np.testing.assert_allclose(fast.rod_moment_nmm, full.rod_moment_nmm, rtol=0.05)
