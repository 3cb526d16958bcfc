"""Screws planned on real CTs stay in bone: the label map is sampled along every shaft.

TPTBox L2-L4 crop (1.5 mm, VerSe IDs; L2 and L4 cut by the crop, L3 whole) and the
TotalSegmentator example CT (3 mm, v2 IDs); the anatomy stage fits the pedicle corridors on each
label map, the planner sizes the screws by its cited rules, and they are checked on the label
map and the CT."""

import numpy as np
import pytest

from spinefuse.anatomy.from_labels import measure_anatomy
from spinefuse.anatomy.method import setting
from spinefuse.imaging.images import Images
from spinefuse.imaging.nifti import read_nifti
from spinefuse.plan.catalogue import default_catalogue
from spinefuse.plan.rules import planning_rules
from spinefuse.plan.screws import fit_screws_to_bone, label_ids, plan_vertebra_screws

RULES = planning_rules()
CAT = default_catalogue()
CASES = {
    "tptbox": (
        "ct/tptbox_l2_l4/sub-ct_label-22_ct.nii.gz",
        "ct/tptbox_l2_l4/sub-ct_seg-vert_label-22_msk.nii.gz",
        "verse",
        ("L3",),
    ),
    "totalseg": (
        "ct/totalsegmentator_example/example_ct.nii.gz",
        "ct/totalsegmentator_example/totalseg.nii.gz",
        "totalseg",
        ("L3", "L4"),
    ),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def planned(request, shared_data):
    ct_path, label_path, convention, levels = CASES[request.param]
    ct = read_nifti(shared_data / ct_path)
    labels = read_nifti(shared_data / label_path, modality="SEG")
    images = Images(volume=ct, labels=labels, convention=convention, label_source="file")
    geometry = measure_anatomy(images)
    ids = label_ids(convention)
    screws = [s for lv in levels for s in plan_vertebra_screws(geometry.vertebra(lv), CAT, RULES)]
    return request.param, geometry, fit_screws_to_bone(screws, labels, ids, RULES, CAT, ct)


def test_no_screw_in_a_vertebra_the_crop_cuts(shared_data):
    ct_path, label_path, convention, _ = CASES["tptbox"]
    images = Images(
        volume=read_nifti(shared_data / ct_path),
        labels=read_nifti(shared_data / label_path, modality="SEG"),
        convention=convention,
    )
    geometry = measure_anatomy(images)
    for level in ("L2", "L4"):
        v = geometry.vertebra(level)
        assert v.partial and not v.corridors
        assert plan_vertebra_screws(v, CAT, RULES) == []


def test_l3_and_l4_screws_stay_inside_bone(planned):
    name, geometry, screws = planned
    assert len(screws) == 2 * len(CASES[name][3]), {
        v: v.corridors for v in geometry.vertebrae.values()
    }
    tol = RULES.screw_breach_tolerance_mm.value
    for s in screws:
        # every shaft sample within the breach tolerance of the vertebra's own label
        assert not s.breach and s.breach_mm <= tol, (name, s.vertebra, s.side, s.breach_mm)
        assert s.bone_fraction >= 0.95, (name, s.vertebra, s.side, s.bone_fraction)
        assert s.length_mm >= 35.0  # long enough to reach well into the body
        assert 0 < s.mean_hu < 600  # bone, not air or metal


def test_sizes_and_angles_are_in_the_published_ranges(planned):
    name, geometry, screws = planned
    for s in screws:
        lo, hi = RULES.screw_diameter_ranges_mm.values[s.vertebra]
        assert lo <= s.diameter_mm <= hi, (name, s.vertebra, s.side, s.diameter_mm)
        ped = geometry.vertebra(s.vertebra).corridors[s.side]
        assert s.diameter_mm <= 0.8 * min(ped.width_mm, ped.height_mm) + 1e-9 or s.warnings
        lo, hi = setting("pedicle_transverse_angle_deg")[s.vertebra]
        assert lo - 1e-6 <= s.medial_angle_deg <= hi + 1e-6  # the search is bounded to it
        assert -15.0 - 1e-6 <= s.cranial_angle_deg <= 15.0 + 1e-6
        assert s.length_mm <= 0.876 * ped.chord_mm


def test_corridor_agrees_with_the_measured_pedicles(planned):
    # where the anatomy stage resolved a pedicle, the fitted corridor passes through its isthmus;
    # on the 1.5 mm TPTBox grid it also runs along its measured axis
    name, geometry, _ = planned
    compared = 0
    for level in CASES[name][3]:
        for side, measured in geometry.vertebra(level).pedicles.items():
            found = geometry.vertebra(level).corridors[side]
            d = np.subtract(measured.isthmus_centre, found.isthmus_centre)
            off_line = np.linalg.norm(d - np.dot(d, found.axis) * np.asarray(found.axis))
            assert off_line < 4.0, (name, level, side, off_line)
            # never wider than the anatomy stage measured
            assert found.width_mm <= measured.width_mm + 1e-9
            if name == "tptbox":
                cos = np.clip(np.dot(measured.axis, found.axis), -1.0, 1.0)
                # two independent estimates of a short pedicle's axis on a 1.5 mm grid: the
                # anatomy stage's deepest line and the planner's widest corridor (observed
                # 6.8-21.5°)
                assert np.degrees(np.arccos(cos)) < 25.0, (level, side)
            compared += 1
    assert compared >= 2
