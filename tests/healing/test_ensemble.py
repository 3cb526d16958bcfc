"""The vectorised ensemble: determinism, feedback from the fusion mass to the mechanics, and
refusal of inputs that do not fit the fusion response."""

from __future__ import annotations

import numpy as np
import pytest

from spinefuse.errors import ParameterError
from spinefuse.healing.ensemble import (
    EnsembleRun,
    biology_quantile,
    regions_for_technique,
    simulate,
)
from spinefuse.healing.members import DEVIATES, cohort_deviates, member_deviates
from spinefuse.healing.parameters import load_parameters
from spinefuse.healing.response import response_table

from .conftest import synthetic_response

P = load_parameters()


def _dev(n: int, members: int, seed: int = 3) -> np.ndarray:
    return cohort_deviates(seed, ["same-patient"] * n, members)


def _run(seed: int = 3, members: int = 200, n: int = 2, **kw: object) -> EnsembleRun:
    table = response_table(synthetic_response(n))
    return simulate(
        table,
        np.ones(n),
        np.array([[True, False]] * n),
        np.full(n, 150.0),
        ["titanium"] * n,
        P,
        deviates=_dev(n, members, seed),
        **kw,  # type: ignore[arg-type]
    )


def test_same_seed_same_result_and_another_seed_differs() -> None:
    a, b, c = _run(3), _run(3), _run(4)
    np.testing.assert_array_equal(a.fusion_fraction, b.fusion_fraction)
    np.testing.assert_array_equal(a.fusion_day, b.fusion_day)
    assert not np.array_equal(a.fusion_fraction, c.fusion_fraction)


def test_members_are_a_latin_hypercube_from_the_patient_stream() -> None:
    """Each deviate has exactly one member per equal-probability stratum; the same (seed, case
    id) gives the same members, another id or seed others."""
    from scipy.special import ndtr

    z = member_deviates(0, "case-a", 64)
    assert z.shape == (64, len(DEVIATES))
    strata = np.floor(ndtr(z) * 64).astype(int)
    for d in range(len(DEVIATES)):
        assert sorted(strata[:, d]) == list(range(64))
    np.testing.assert_array_equal(z, member_deviates(0, "case-a", 64))
    assert not np.array_equal(z, member_deviates(0, "case-b", 64))
    assert not np.array_equal(z, member_deviates(1, "case-a", 64))
    with pytest.raises(ParameterError, match="seed"):
        member_deviates(-1, "case-a", 4)


def test_biology_quantile_is_the_mixture_of_healthy_and_compromised_beds() -> None:
    """The compromised share of beds sits below the healthy ones: the quantile at the mixture's
    CDF reproduces the probability, and a share pi of members lies near kappa."""
    from scipy.special import ndtr

    u = np.linspace(0.005, 0.995, 199)
    x = biology_quantile(u, P)
    s, pi, kappa = P.biology_log_sd, P.compromised_bed_share, P.compromised_bed_rate
    cdf = (1 - pi) * ndtr(np.log(x) / s) + pi * ndtr((np.log(x) - np.log(kappa)) / s)
    np.testing.assert_allclose(cdf, u, atol=1e-9)
    assert np.all(np.diff(x) > 0)


def test_shapes_and_monthly_samples() -> None:
    r = _run(members=50, months=12)
    assert r.months_axis.tolist() == list(range(13))
    assert r.bone.shape == (2, 50, 13, 2)
    assert r.fused.shape == r.fusion_fraction.shape == (2, 50, 13)
    assert r.fusion_probability(6).shape == (2,)


def test_patients_with_identical_inputs_and_deviates_get_the_same_course() -> None:
    # the same case id in two rows (one patient in two arms) meets the same members
    r = _run(members=300)
    np.testing.assert_array_equal(r.fusion_fraction[0], r.fusion_fraction[1])


def test_rods_unload_and_motion_falls_as_the_fusion_matures() -> None:
    r = _run(members=300)
    stress = np.median(r.rod_stress_mpa[0], axis=0)
    motion = np.median(r.motion_deg[0], axis=0)
    assert stress[0] > 5 * stress[12]
    assert motion[0] > 5 * motion[12]
    assert np.all(np.diff(np.median(r.stiffness_nmm_per_rad[0], axis=0)) >= 0)


def test_technique_sets_the_grafted_regions() -> None:
    assert regions_for_technique("TLIF") == regions_for_technique("PLIF") == (True, True)
    assert regions_for_technique("PLF") == (False, True)
    # as the planner grafts them: the lateral and anterior corridors graft the disc space only
    assert regions_for_technique("ALIF") == regions_for_technique("LLIF") == (True, False)
    with pytest.raises(ParameterError, match="XLIF"):
        regions_for_technique("XLIF")


def test_inputs_that_do_not_match_the_response_are_refused() -> None:
    table = response_table(synthetic_response(2))
    with pytest.raises(ParameterError, match="fusion response holds 2"):
        simulate(
            table,
            np.ones(3),
            np.ones((2, 2), bool),
            np.full(2, 150.0),
            ["titanium"] * 2,
            P,
            deviates=_dev(2, 5),
        )
    with pytest.raises(ParameterError, match="at least one"):
        simulate(
            table,
            np.ones(2),
            np.zeros((2, 2), bool),
            np.full(2, 150.0),
            ["titanium"] * 2,
            P,
            deviates=_dev(2, 5),
        )
    with pytest.raises(ParameterError, match="steel"):
        simulate(
            table,
            np.ones(2),
            np.ones((2, 2), bool),
            np.full(2, 150.0),
            ["steel"] * 2,
            P,
            deviates=_dev(2, 5),
        )
    with pytest.raises(ParameterError, match="one row of member"):
        simulate(
            table,
            np.ones(2),
            np.ones((2, 2), bool),
            np.full(2, 150.0),
            ["titanium"] * 2,
            P,
            deviates=_dev(3, 5),
        )
    with pytest.raises(ParameterError, match="rule"):
        simulate(
            table,
            np.ones(2),
            np.ones((2, 2), bool),
            np.full(2, 150.0),
            ["titanium"] * 2,
            P,
            deviates=_dev(2, 5),
            rule="x",
        )  # type: ignore[arg-type]


def test_claes_heigele_rule_also_fuses_a_stable_segment() -> None:
    r = _run(members=300, rule="claes_heigele")
    assert r.fusion_probability(24)[0] > 0.5


def test_response_shape_errors_name_the_field() -> None:
    resp = synthetic_response(1)
    bad = type(resp)(**{**resp.__dict__, "rod_stress_mpa": resp.rod_stress_mpa[:, :3]})
    with pytest.raises(ParameterError, match="rod_stress_mpa"):
        response_table(bad)
    grid = resp.fusion_fraction.copy()
    grid[-1] = 0.9
    with pytest.raises(ParameterError, match="rise strictly from 0 to 1"):
        response_table(type(resp)(**{**resp.__dict__, "fusion_fraction": grid}))


def test_unstable_segment_heals_worse_through_the_mechanics() -> None:
    """Same biology, a looser segment (a tenth of the instrumented stiffness): the graft strain
    pushes the stimulus into the fibrous and cartilage bands, bone forms later and non-union
    rises; the difference comes from the mechanics alone."""
    table = response_table(synthetic_response(2, k_instr=[2.5e5, 2.5e4]))
    r = simulate(
        table,
        np.ones(2),
        np.array([[True, False]] * 2),
        np.full(2, 150.0),
        ["titanium"] * 2,
        P,
        deviates=_dev(2, 400, 8),
    )
    stable, loose = r.nonunion_probability(24)
    assert loose > stable + 0.1
    bone6 = np.median(r.bone[:, :, 6, 0], axis=1)
    assert bone6[1] < bone6[0] - 0.1


def test_resorbing_interbody_beds_stay_unhealed_through_the_phase() -> None:
    """rhBMP-2 osteolysis: the share of members given holds no interbody bone until the phase
    ends (then heals), the others heal as without it; the share is exact (stratified)."""
    members, days = 200, 91.0
    plain = _run(members=members, n=1)
    held = _run(members=members, n=1, resorption=np.array([[0.4, days]]))
    b0, b1 = plain.bone[0, :, :, 0], held.bone[0, :, :, 0]  # (M, S) interbody bone
    month = held.months_axis
    stayed = np.all(b1[:, month * 30.4375 < days - 1] == 0.0, axis=1)
    assert stayed.sum() == 0.4 * members
    np.testing.assert_array_equal(b1[~stayed], b0[~stayed])
    assert np.median(b1[stayed, -1]) > 0.5  # the resorbed beds heal afterwards
    assert held.fusion_probability(6.0)[0] < plain.fusion_probability(6.0)[0]
    with pytest.raises(ParameterError, match="resorption"):
        _run(n=1, resorption=np.array([[1.5, days]]))
