import numpy as np
import pytest

from spinefuse.anatomy.geometry import Vertebra
from spinefuse.anatomy.method import setting
from spinefuse.anatomy.template import VirtualPatientSpec, dimensions, virtual_spine
from spinefuse.errors import GeometryError, LabelMapError
from spinefuse.imaging.volume import Volume
from spinefuse.plan.catalogue import default_catalogue
from spinefuse.plan.rules import planning_rules
from spinefuse.plan.screws import (
    grade_screws,
    label_ids,
    plan_screw,
    plan_vertebra_screws,
    purchase_band,
)

CAT = default_catalogue()
RULES = planning_rules()


def _with_pedicle(v: Vertebra, **fields: float) -> Vertebra:
    peds = {s: p.model_copy(update=fields) for s, p in v.pedicles.items()}
    return v.model_copy(update={"pedicles": peds})


@pytest.fixture(scope="module")
def spine():
    return virtual_spine(VirtualPatientSpec(sex="male", height_cm=175))


@pytest.mark.parametrize(
    ("width", "height", "diameter"),
    [(10.0, 14.0, 7.5), (7.0, 14.0, 5.5), (6.3, 14.0, 5.0), (12.0, 8.0, 6.0), (11.0, 15.0, 8.5)],
)
def test_largest_diameter_within_80_percent_of_the_isthmus(spine, width, height, diameter):
    v = _with_pedicle(spine.vertebra("L4"), width_mm=width, height_mm=height)
    s = plan_screw(v, "left", CAT, RULES)
    assert s.diameter_mm == diameter
    assert not s.breach and not s.warnings and not s.alternatives


@pytest.mark.parametrize(
    ("chord", "length"), [(50.0, 40.0), (55.0, 45.0), (62.0, 50.0), (80.0, 60.0)]
)
def test_length_is_the_stocked_one_nearest_80_percent_of_the_chord(spine, chord, length):
    v = _with_pedicle(spine.vertebra("L4"), chord_mm=chord)
    s = plan_screw(v, "right", CAT, RULES)
    assert s.length_mm == length
    assert s.length_mm <= 0.876 * chord
    tip = np.asarray(s.entry_point) + s.length_mm * np.asarray(s.direction)
    assert np.allclose(tip, s.tip)


def test_virtual_patient_screws_follow_the_pedicle_axis(spine):
    dims = dimensions()
    for level in ("L3", "L4", "L5"):
        v = spine.vertebra(level)
        for s in plan_vertebra_screws(v, CAT, RULES):
            ped = v.pedicles[s.side]
            assert s.entry_point == ped.entry_point
            # the template's published pedicle angles come back out of the screw direction
            assert s.medial_angle_deg == pytest.approx(
                dims["pedicle_medial_angle_deg"]["values"][level], abs=1e-6
            )
            assert s.cranial_angle_deg == pytest.approx(
                -dims["pedicle_caudal_angle_deg"]["values"][level], abs=1e-6
            )
            lo, hi = setting("pedicle_transverse_angle_deg")[level]
            assert lo <= s.medial_angle_deg <= hi
            assert s.diameter_mm <= 0.8 * ped.width_mm
            assert 0.7 * ped.chord_mm <= s.length_mm <= 0.876 * ped.chord_mm
            assert s.purchase == "adequate" and not s.breach


def test_narrow_pedicle_gets_a_warning_and_alternatives_never_a_silent_breach(spine):
    v = _with_pedicle(spine.vertebra("L1"), width_mm=5.0)
    s = plan_screw(v, "left", CAT, RULES)
    assert s.diameter_mm == 4.5 and not s.breach  # fits, with a thin wall
    assert "too narrow" in s.warnings[0] and "0.2 mm a side" in s.warnings[0]
    assert any("cortical bone trajectory" in a for a in s.alternatives)
    v = _with_pedicle(spine.vertebra("L1"), width_mm=3.5)
    s = plan_screw(v, "right", CAT, RULES)
    assert s.breach and s.breach_mm == pytest.approx(0.5)
    assert "breach the pedicle wall by 0.5 mm" in s.warnings[0]
    assert len(s.alternatives) >= 3


def test_low_density_warns_with_cement_and_longer_screws(spine):
    v = spine.vertebra("L4").model_copy(update={"trabecular_hu": 95.0})
    screws = plan_vertebra_screws(v, CAT, RULES)
    for s in screws:
        assert s.purchase == "poor"
        assert any("95 HU" in w and "Pickhardt" in w for w in s.warnings)
        assert any("cement" in a for a in s.alternatives)
    assert purchase_band(140.0, RULES) == "reduced"
    assert purchase_band(200.0, RULES) == "adequate"
    assert purchase_band(None, RULES) is None


def test_converging_tips_are_kept_apart(spine):
    # a steep convergence makes the tips meet in the midline: they must be shortened
    v = spine.vertebra("L5")
    steep = {}
    f = v.frame()[:3, :3]
    for side, p in v.pedicles.items():
        lat = 1.0 if side == "right" else -1.0
        m = np.radians(60.0)
        axis = f @ np.array([-lat * np.sin(m), np.cos(m), 0.0])
        steep[side] = p.model_copy(update={"axis": tuple(axis), "chord_mm": 70.0})
    v = v.model_copy(update={"pedicles": steep})
    left, right = plan_vertebra_screws(v, CAT, RULES)
    gap = np.linalg.norm(np.asarray(left.tip) - np.asarray(right.tip))
    assert gap > (left.diameter_mm + right.diameter_mm) / 2
    assert any("shortened" in w for w in left.warnings)


def test_missing_entry_point_is_named(spine):
    v = _with_pedicle(spine.vertebra("L4"))
    peds = {s: p.model_copy(update={"entry_point": None}) for s, p in v.pedicles.items()}
    with pytest.raises(GeometryError, match="L4 left pedicle has no entry_point"):
        plan_screw(v.model_copy(update={"pedicles": peds}), "left", CAT, RULES)


def _phantom(v: Vertebra, label: int, spacing: float = 0.5) -> Volume:
    """Rasterise a vertebra as its body (elliptic cylinder) plus two elliptic pedicle tubes."""
    c = np.asarray(v.centroid)
    lo, hi = c - np.array([40.0, 60.0, 25.0]), c + np.array([40.0, 25.0, 25.0])
    axes = [np.arange(a, b, spacing) for a, b in zip(lo, hi, strict=True)]
    p = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    f = v.frame()[:3, :3]
    q = (p - c) @ f
    body = (q[..., 0] / (v.body_width_mm / 2)) ** 2 + (q[..., 1] / (v.body_depth_mm / 2)) ** 2 <= 1
    body &= np.abs(q[..., 2]) <= v.middle_height_mm / 2
    bone = body
    for ped in v.pedicles.values():
        a = np.asarray(ped.axis)
        e1 = np.cross(a, f[:, 2])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(a, e1)
        r = p - np.asarray(ped.entry_point)
        s = r @ a
        tube = (r @ e1 / (ped.width_mm / 2)) ** 2 + (r @ e2 / (ped.height_mm / 2)) ** 2 <= 1
        bone = bone | (tube & (s >= -2.0) & (s <= 30.0))
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = lo
    return Volume(np.where(bone, label, 0).astype(np.uint8), affine, "SEG")


def test_grading_finds_a_screw_inside_and_one_out_of_the_pedicle(spine):
    v = spine.vertebra("L4")
    labels = _phantom(v, 28)
    ct = Volume(np.where(labels.array > 0, 250, -50).astype(np.int16), labels.affine, "CT")
    inside = plan_vertebra_screws(v, CAT, RULES)
    f = v.frame()[:3, :3]
    moved = inside[0].model_copy(
        update={"entry_point": tuple(np.asarray(inside[0].entry_point) - 5.0 * f[:, 0])}
    )
    graded = grade_screws([*inside, moved], labels, label_ids("totalseg"), RULES, ct)
    for g in graded[:2]:
        assert g.breach_mm is not None and g.breach_mm < 1.0
        assert not g.breach and g.bone_fraction is not None and g.bone_fraction > 0.95
        assert g.mean_hu == pytest.approx(250.0, abs=30.0)
    out = graded[2]
    # moved 5 mm laterally: the outer thread leaves the 4.9 mm half-width pedicle by ~3.75 mm
    assert out.breach and 2.5 < out.breach_mm < 5.0
    assert any("leaves the vertebra's label" in w for w in out.warnings)


def test_grading_needs_the_level_in_the_label_convention(spine):
    v = spine.vertebra("L4")
    screws = plan_vertebra_screws(v, CAT, RULES)
    with pytest.raises(LabelMapError, match="no label ID for L4"):
        grade_screws(screws, _phantom(v, 28, 2.0), {"L3": {29}}, RULES)
    assert label_ids("verse")["L4"] == {23}
    assert label_ids("totalseg")["S1"] == {25, 26}


def test_soft_bone_along_the_shaft_is_flagged(spine):
    v = spine.vertebra("L4")
    labels = _phantom(v, 28, 1.0)
    ct = Volume(np.where(labels.array > 0, 90, -50).astype(np.int16), labels.affine, "CT")
    (s,) = grade_screws(
        plan_vertebra_screws(v, CAT, RULES)[:1], labels, label_ids("totalseg"), RULES, ct
    )
    assert s.mean_hu == pytest.approx(90.0, abs=15.0)
    assert any("below the 135 HU of cancellous bone" in w for w in s.warnings)
    assert any("cement" in a for a in s.alternatives)
