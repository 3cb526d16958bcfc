import numpy as np
import pytest
import trimesh

from spinefuse.plan import plan_surgery, write_implant_meshes


def test_stl_meshes_lie_where_the_implants_are(tmp_path, spine, make_case, make_assessment):
    plan = plan_surgery(make_case(), spine, make_assessment())
    paths = write_implant_meshes(plan, tmp_path)
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [f"screw_{v}_{s}.stl" for v in ("L4", "L5") for s in ("left", "right")]
        + ["rod_left.stl", "rod_right.stl", "cage_L4-L5.stl"]
    )
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    for s in plan.screws:
        mesh = trimesh.load(tmp_path / f"screw_{s.vertebra}_{s.side}.stl")
        assert mesh.is_watertight or len(mesh.faces) > 0
        # the shaft's farthest point from the head is the tip, in patient RAS mm
        far = mesh.vertices[np.argmax(mesh.vertices @ np.asarray(s.direction))]
        assert np.linalg.norm(far - np.asarray(s.tip)) < 0.5
        # its thickest part is the head; the shaft's radius is the screw's
        lateral = mesh.vertices - np.asarray(s.entry_point)
        along = lateral @ np.asarray(s.direction)
        radial = np.linalg.norm(lateral - np.outer(along, s.direction), axis=1)
        assert radial[along > 5.0].max() == pytest.approx(s.diameter_mm / 2, abs=0.05)
    cage = plan.cages[0]
    mesh = trimesh.load(tmp_path / "cage_L4-L5.stl")
    assert np.allclose(mesh.bounding_box.centroid, cage.centre, atol=3.0)
    # volume of the lordotic wedge equals width x depth x mean height
    assert mesh.volume == pytest.approx(cage.width_mm * cage.depth_mm * cage.height_mm, rel=0.02)
    rod = plan.rods[0]
    mesh = trimesh.load(tmp_path / f"rod_{rod.side}.stl")
    assert mesh.volume == pytest.approx(
        np.pi * (rod.diameter_mm / 2) ** 2 * rod.length_mm, rel=0.05
    )
