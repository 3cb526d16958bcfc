"""Screw corridors on the rendered CT of a virtual patient whose pedicles are known exactly."""

import numpy as np
import pytest

from spinefuse.anatomy import corridors
from spinefuse.anatomy.bone_field import BoneField
from spinefuse.anatomy.corridors import fit_corridor, with_corridors
from spinefuse.anatomy.method import setting
from spinefuse.anatomy.phantom import render_ct
from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.plan.catalogue import default_catalogue
from spinefuse.plan.rules import planning_rules
from spinefuse.plan.screws import fit_screws_to_bone, label_ids, plan_vertebra_screws

RULES = planning_rules()
LEVELS = ["L3", "L4", "L5"]


@pytest.fixture(scope="module")
def phantom():
    truth = virtual_spine(VirtualPatientSpec(sex="female", height_cm=165))
    ct, labels = render_ct(truth, spacing_mm=1.0)
    bare = truth.model_copy(
        update={
            "vertebrae": {
                n: v.model_copy(update={"pedicles": {}}) for n, v in truth.vertebrae.items()
            }
        }
    )
    ids = label_ids("totalseg")
    fields = {n: BoneField.of(labels, ids[n]) for n in LEVELS}
    fitted = with_corridors(bare, {n: f for n, f in fields.items() if f is not None})
    return truth, ct, labels, fitted, fields


def test_corridors_recover_the_known_pedicle_axes(phantom):
    truth, _, _, fitted, _ = phantom
    for level in LEVELS:
        assert set(fitted.vertebra(level).corridors) == {"left", "right"}, level
        for side in ("left", "right"):
            known = truth.vertebra(level).pedicles[side]
            found = fitted.vertebra(level).corridors[side]
            angle = np.degrees(np.arccos(np.clip(np.dot(known.axis, found.axis), -1.0, 1.0)))
            assert angle < 16.0, (level, side, angle)
            # the fitted line passes close to the true isthmus centre
            d = np.subtract(known.isthmus_centre, found.isthmus_centre)
            off_line = np.linalg.norm(d - np.dot(d, found.axis) * np.asarray(found.axis))
            assert off_line < 3.5, (level, side, off_line)
            # widths measured on the label map err on the safe side, never wider than the bone
            assert 0.45 * known.width_mm < found.width_mm <= known.width_mm + 1.0
            assert abs(found.chord_mm - known.chord_mm) < 8.0


def test_planned_screws_on_the_fitted_corridors_stay_in_bone(phantom):
    _, ct, labels, fitted, _ = phantom
    cat = default_catalogue()
    screws = [s for lv in LEVELS for s in plan_vertebra_screws(fitted.vertebra(lv), cat, RULES)]
    checked = fit_screws_to_bone(screws, labels, label_ids("totalseg"), RULES, cat, ct)
    for s in checked:
        assert not s.breach and s.bone_fraction > 0.95
        assert s.mean_hu > 150  # the phantom's bone


def test_no_corridor_where_there_is_no_bone(phantom):
    truth, _, labels, _, _ = phantom
    # the L5 label searched around L3: nothing of L5 lies in L3's pedicle region
    field = BoneField.of(labels, {27})
    assert field is not None
    assert fit_corridor(truth.vertebra("L3"), "left", field, (17.0, 31.0)) is None
    assert BoneField.of(labels, {99}) is None


def test_a_screw_that_would_breach_is_replaced_by_one_that_fits(phantom):
    truth, ct, labels, fitted, _ = phantom
    cat = default_catalogue()
    v = fitted.vertebra("L4")
    s = plan_vertebra_screws(v, cat, RULES)[0]
    fat = s.model_copy(update={"diameter_mm": 8.5 + 4.0})  # wider than the pedicle
    (fixed,) = fit_screws_to_bone([fat], labels, label_ids("totalseg"), RULES, cat, ct)
    assert not fixed.breach and fixed.diameter_mm <= 8.5
    assert "would leave the bone" in fixed.warnings[-1]


def test_the_two_pass_search_finds_the_exhaustive_searchs_corridor(phantom):
    # the coarse-to-fine search keeps as much bone around the line as the exhaustive search of
    # the same window at the fine steps, within 0.15 mm of clearance (a sixth of a voxel), at a
    # tenth of the samples
    truth, _, _, fitted, fields = phantom
    ranges = setting("pedicle_transverse_angle_deg")
    for level in LEVELS:
        v = truth.vertebra(level)
        f = v.frame()
        rot, origin = f[:3, :3], f[:3, 3]
        for side, lat in (("left", -1.0), ("right", 1.0)):
            p0 = rot.T @ (np.asarray(v.pedicles[side].isthmus_centre) - origin)
            lo, hi = ranges[level]
            found, i, _ = corridors._search(fields[level], rot, origin, p0, (lo, hi), lat)
            starts, dirs = corridors._lines(
                p0,
                (corridors.OFFSETS_MM, corridors.DEPTH_OFFSETS_MM, corridors.OFFSETS_MM),
                np.arange(lo, hi + 0.01, corridors.MEDIAL_STEP_DEG),
                corridors.CRANIAL_DEG,
                lat,
            )
            full = corridors._score(fields[level], rot, origin, starts, dirs)
            assert found.score[i] >= full.score.max() - 0.15, (level, side)
            assert found.clear.size < 0.2 * full.clear.size
