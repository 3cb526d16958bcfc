"""Screw corridors on the rendered CT of a virtual patient whose pedicles are known exactly."""

import numpy as np
import pytest

from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.imaging.phantom import render_ct
from spinefuse.plan.catalogue import default_catalogue
from spinefuse.plan.corridor import BoneField, fit_corridor, pedicles_on_labels
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
    fitted, notes = pedicles_on_labels(bare, labels, label_ids("totalseg"), LEVELS, RULES)
    return truth, ct, labels, fitted, notes


def test_corridors_recover_the_known_pedicle_axes(phantom):
    truth, _, _, fitted, notes = phantom
    assert sum("fitted on the label map" in n for n in notes) == 2 * len(LEVELS)
    for level in LEVELS:
        for side in ("left", "right"):
            known = truth.vertebra(level).pedicles[side]
            found = fitted.vertebra(level).pedicles[side]
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
