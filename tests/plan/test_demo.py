"""The demo (sample) patient: a complete, consistent L4-L5 plan checked on her rendered CT."""

import numpy as np
import pytest
import trimesh

from spinefuse.anatomy.template import virtual_spine
from spinefuse.assess import assess_case
from spinefuse.case import load_case
from spinefuse.imaging.images import read_images
from spinefuse.plan import plan_surgery, write_implant_meshes
from spinefuse.plan.catalogue import default_catalogue
from spinefuse.plan.planner import grade_plan_on_images
from spinefuse.plan.rods import head_centre
from spinefuse.plan.screws import _lookup
from spinefuse.sample import SAMPLE_SPEC


@pytest.fixture(scope="module")
def demo(sample_case_path):
    case = load_case(sample_case_path)
    images = read_images(case)
    geometry = virtual_spine(SAMPLE_SPEC)
    plan = plan_surgery(case, geometry, assess_case(case, geometry, images.xrays))
    return case, geometry, plan, images


def test_demo_plan_is_complete_and_consistent(demo):
    case, g, plan, _ = demo
    assert plan.fuse_segments == ["L4-L5"] and plan.technique == "TLIF"
    assert len(plan.screws) == 4 and len(plan.rods) == 2 and len(plan.cages) == 1
    cat = default_catalogue()
    for rod in plan.rods:
        heads = [head_centre(s, cat) for s in plan.screws if s.side == rod.side]
        assert np.allclose(rod.points, heads)
    cage = plan.cages[0]
    disc = g.disc("L4-L5")
    assert disc.middle_height_mm < cage.height_mm <= 10.0  # restores the 35 % height loss
    # the cage centre lies between the L4 and L5 endplates
    lo, hi = g.vertebra("L5").superior, g.vertebra("L4").inferior
    n = np.asarray(lo.normal)
    h = (np.asarray(cage.centre) - np.asarray(lo.centre)) @ n
    assert 0.0 < h < (np.asarray(hi.centre) - np.asarray(lo.centre)) @ n
    # PI 58 deg (class IV): target LL = PI + 6 = 64 deg, 25.2 % of it at L4-L5 = 16.1 deg
    assert cage.lordosis_deg == 15.0
    lam = [d for d in plan.decompressions if d.kind == "laminectomy"]
    assert lam and lam[0].treats == ["central_stenosis L4-L5 (absolute)"]
    assert all(s.purchase == "reduced" for s in plan.screws)  # 132 HU
    assert any("reduced screw purchase at L4, L5" in w for w in plan.warnings)


def test_demo_screws_stay_in_bone_on_her_ct(demo):
    case, g, plan, images = demo
    graded = grade_plan_on_images(plan, images)
    for s in graded.screws:
        ped = g.vertebra(s.vertebra).pedicles[s.side]
        assert s.diameter_mm <= 0.8 * ped.width_mm
        assert not s.breach and s.breach_mm < 2.0
        assert s.bone_fraction > 0.9  # thread contact; the breach depth above is the criterion
        assert 150.0 < s.mean_hu < 400.0  # trabecular bone with some cortex on the shaft


def test_demo_meshes_sit_in_her_ct_frame(demo, tmp_path):
    case, g, plan, images = demo
    paths = write_implant_meshes(plan, tmp_path)
    assert len(paths) == 7
    labels = images.labels
    ids = {"L4": 28, "L5": 27}
    for s in plan.screws:
        mesh = trimesh.load(tmp_path / f"screw_{s.vertebra}_{s.side}.stl")
        v = mesh.vertices
        along = (v - np.asarray(s.entry_point)) @ np.asarray(s.direction)
        shaft = v[along > 3.0]
        values, inside = _lookup(labels, shaft)
        assert inside.all()
        assert np.mean(values == ids[s.vertebra]) > 0.9


def test_demo_pipeline_plan_from_her_ct(sample_run):
    # the anatomy stage's geometry from her CT with corridors fitted on her label map, then the
    # plan stage: four screws in bone and two rods
    plan = sample_run.plan
    assert plan.fuse_segments == ["L4-L5"]
    assert {(s.vertebra, s.side) for s in plan.screws} == {
        (v, side) for v in ("L4", "L5") for side in ("left", "right")
    }
    assert all(not s.breach and s.bone_fraction > 0.95 for s in plan.screws)
    assert len(plan.rods) == 2
    for s in plan.screws:  # each screw follows its corridor from the anatomy stage
        corridor = sample_run.geometry.vertebra(s.vertebra).corridors[s.side]
        assert np.allclose(s.direction, corridor.axis)
