"""Physical sanity of the model and its batched solver."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.conventions import DIRECTIONS
from spinefuse.mechanics.constructs import Construct, RodSpec, parse_constructs
from spinefuse.mechanics.loads import direction_moments
from spinefuse.mechanics.model import build_model
from spinefuse.mechanics.reference import reference_geometry
from spinefuse.mechanics.simulation import DirectionResponse, direction_response
from spinefuse.mechanics.solver import Loads, solve

FLEX, EXT, LBL, LBR, ARL, ARR = range(6)
STEPS = np.array([0.1, 0.3, 0.6, 1.0])


def _moved(g: SpineGeometry, rot: np.ndarray, shift: np.ndarray) -> SpineGeometry:
    """The same spine rigidly rotated and translated in the world."""

    def walk(node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            if len(node) == 3 and all(isinstance(x, float) for x in node):
                v = rot @ np.asarray(node)
                return list(v if key in ("normal", "axis") else v + shift)
            return [walk(v, key) for v in node]
        return node

    data = walk(g.model_dump(mode="json"))
    return SpineGeometry.model_validate(data)


def test_zero_load_gives_zero_motion() -> None:
    g = reference_geometry()
    model = build_model([g], [Construct()])
    sol = solve(model, Loads(np.zeros((1, 3)), np.zeros(1), np.zeros(1, dtype=np.int64)), STEPS)
    assert np.abs(sol.rotation).max() < 1e-7
    assert np.abs(sol.translation).max() < 1e-4


def test_mirrored_loads_give_mirrored_motion() -> None:
    r = direction_response([reference_geometry()], [Construct()], 7.5, steps=STEPS)
    rot = r.rotation_rad[0]
    # The reference spine is bilaterally symmetric to within its mesh: left and right bending
    # and rotation agree to 2 % of the motion.
    np.testing.assert_allclose(rot[LBL], rot[LBR], rtol=0.02)
    np.testing.assert_allclose(rot[ARL], rot[ARR], rtol=0.02)
    sol = r.solution.rotation[-1].reshape(6, -1, 3)
    # coupled flexion under left and right bending is the same; coupled axial rotation opposite
    np.testing.assert_allclose(sol[LBL, :, 0], sol[LBR, :, 0], atol=2e-4)
    np.testing.assert_allclose(sol[LBL, :, 2], -sol[LBR, :, 2], atol=2e-4)


def test_results_do_not_depend_on_the_world_frame() -> None:
    g = reference_geometry()
    a = np.radians(35.0)
    rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    b = np.radians(-20.0)
    rot = rot @ np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    moved = _moved(g, rot, np.array([120.0, -40.0, 300.0]))
    r = direction_response([g, moved], [Construct(), Construct()], 7.5, 200.0, steps=STEPS)
    np.testing.assert_allclose(r.rotation_rad[0], r.rotation_rad[1], atol=1e-6)
    np.testing.assert_allclose(r.disc_pressure_mpa[0], r.disc_pressure_mpa[1], rtol=1e-5, atol=1e-6)


def _work_rotation(r: DirectionResponse) -> np.ndarray:
    """Rotation of each segment projected on the applied moment's direction (its work-conjugate
    measure), from the rest posture: (n, 6, S)."""
    sol = r.solution
    n = r.rotation_rad.shape[0]
    rot = (sol.rotation[-1] - sol.rotation[0]).reshape(n, 6, -1, 3)
    top = r.model.segments[0].split("-")[0]
    geos = [reference_geometry()] * n
    m = direction_moments(geos, top, 1.0)  # (n, 6, 3) world
    frames = np.stack([a.frame[:, :3, :3] for a in r.model.arrays], 1)  # (n, S, 3, 3)
    m_local = np.einsum("nsji,ndj->ndsi", frames, m) / 1000.0
    return np.asarray((rot * m_local).sum(-1))


@pytest.mark.parametrize(
    "spec",
    [
        "facetectomy:L4-L5:bilateral",
        "facetectomy:L4-L5:left",
        "facetectomy:L4-L5:left:50",
        "laminectomy:L4-L5",
        "hemilaminectomy:L4-L5:left",
        "ligaments:L4-L5:ssl,isl",
        "ligaments:L4-L5:all,pll",
        "discectomy:L4-L5",
        "discectomy:L4-L5:total",
    ],
)
def test_removing_a_structure_never_stiffens(spec: str) -> None:
    g = reference_geometry()
    r = direction_response([g, g], [Construct(), parse_constructs([spec])], 7.5, steps=STEPS)
    work = _work_rotation(r)
    intact, cut = work[0], work[1]
    assert (cut[:, 3] >= intact[:, 3] - 1e-7).all()  # the operated segment L4-L5
    assert (cut.sum(-1) >= intact.sum(-1) - 1e-7).all()  # the whole spine
    # and it loosens the operated segment in at least one direction by > 1 %
    assert (r.rotation_rad[1][:, 3] > r.rotation_rad[0][:, 3] * 1.01).any()


def test_a_stiffer_rod_never_increases_motion() -> None:
    g = reference_geometry()
    levels = ["L3", "L4", "L5"]
    cons = [
        Construct(
            rods=[
                RodSpec(side=s, vertebrae=levels, material=m, diameter_mm=d)
                for s in ("left", "right")
            ]  # type: ignore[arg-type]
        )
        for m, d in (
            ("peek", 5.5),
            ("titanium", 4.5),
            ("titanium", 5.5),
            ("titanium", 6.0),
            ("stainless_steel", 6.0),
            ("cobalt_chrome", 6.0),
        )
    ]
    r = direction_response([g] * len(cons), cons, 7.5, steps=STEPS)
    rot = r.rotation_rad
    work = _work_rotation(r)
    for softer in range(len(cons) - 1):
        stiffer = softer + 1
        assert (work[stiffer][:, 2:4] <= work[softer][:, 2:4] + 1e-7).all()
        assert (work[stiffer].sum(-1) <= work[softer].sum(-1) + 1e-7).all()
    # the instrumented segments move far less than intact ones (> 60 % reduction in flexion)
    ref = direction_response([g], [Construct()], 7.5, steps=STEPS).rotation_rad[0]
    assert (rot[2][FLEX, 2:4] < 0.4 * ref[FLEX, 2:4]).all()
    # a PEEK rod lets the segment move more than a titanium one of the same size
    assert (rot[0][FLEX, 2:4] > 1.05 * rot[2][FLEX, 2:4]).all()


@pytest.mark.parametrize("technique", ["alif", "llif", "tlif", "plif"])
@pytest.mark.parametrize("material", ["peek", "titanium"])
def test_a_cage_never_loosens_an_instrumented_segment(technique: str, material: str) -> None:
    """Adding a cage (with the resections its approach needs) to screws and rods never lets
    the instrumented segment move more, in any direction."""
    g = reference_geometry()
    rods = parse_constructs(["screws-rods:L4-L5"])
    caged = parse_constructs(["screws-rods:L4-L5", f"cage:L4-L5:{technique}:{material}"])
    r = direction_response([g, g], [rods, caged], 7.5, steps=STEPS)
    assert (r.rotation_rad[1][:, 3] <= r.rotation_rad[0][:, 3] * 1.02 + 1e-5).all()


def test_a_partial_fusion_sits_between_none_and_full() -> None:
    g = reference_geometry()
    specs = [[], ["fused:L4-L5:0.1"], ["fused:L4-L5:0.4"], ["fused:L4-L5:0.7"], ["fused:L4-L5"]]
    r = direction_response([g] * 5, [parse_constructs(s) for s in specs], 7.5, steps=STEPS)
    rom = r.rotation_rad[:, :, 3]
    assert (np.diff(rom, axis=0) < 0).all()  # monotone from none to full in every direction
    assert (rom[-1] < 0.2 * rom[0]).all()  # a mature bridge nearly stops the segment


def test_a_longer_span_keeps_each_segments_intact_motion() -> None:
    """Under pure moments every segment carries the same moment: modelling L4-L5 alone, L3-S1
    or L1-L5 under the moment of the L1-S1 test (axes of L1) gives each segment the same motion
    (within the small turn of the moment's axes by the segments below)."""
    g = reference_geometry()
    whole = direction_response([g], [Construct()], 7.5, steps=STEPS).rotation_rad[0]
    for span in (("L4-L5",), ("L3-L4", "L4-L5", "L5-S1"), ("L1-L2", "L2-L3", "L3-L4", "L4-L5")):
        part = direction_response(
            [g], [Construct()], 7.5, steps=STEPS, segments=span, moment_frame="L1"
        )
        for k, seg in enumerate(span):
            s = ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1").index(seg)
            np.testing.assert_allclose(
                part.rotation_rad[0][:, k], whole[:, s], rtol=0.08, atol=2e-4
            )


def test_directions_follow_the_sign_convention() -> None:
    r = direction_response([reference_geometry()], [Construct()], 7.5, steps=STEPS)
    rot = r.solution.rotation[-1].reshape(6, -1, 3)
    assert (rot[FLEX, :, 0] < 0).all() and (rot[EXT, :, 0] > 0).all()  # flexion: about -x
    assert (rot[LBR, :, 1] > 0).all() and (rot[ARR, :, 2] < 0).all()
    assert len(DIRECTIONS) == 6


@pytest.mark.parametrize(
    "specs",
    [
        ["screws-rods:L4-L5", "cage:L4-L5:tlif"],  # rods, cage contact with friction
        ["cage-plate:L4-L5:alif", "interspinous:L4-L5"],  # fixation bushing, spacer
        ["disc-replacement:L4-L5"],  # joint
    ],
)
def test_analytic_jacobian_matches_finite_differences(specs: list[str]) -> None:
    from spinefuse.mechanics.rotations import exp_so3
    from spinefuse.mechanics.solver import _gather, follower_wrench, segment_wrench

    g = reference_geometry()
    model = build_model([g], [parse_constructs(specs)])
    a = _gather(model.segment("L4-L5"), np.zeros(1, dtype=np.int64))
    rot = exp_so3(np.array([[-0.04, 0.02, 0.01]]))
    t = np.array([[0.2, -0.3, -0.4]])  # compressed: cage and facets in contact
    force, offset = np.array([500.0]), np.array([[3.0, -5.0]])

    def total(r: np.ndarray, x: np.ndarray, jac: bool) -> tuple[np.ndarray, np.ndarray]:
        w, j, _ = segment_wrench(a, r, x, jacobian=jac)
        wf, jf = follower_wrench(a, r, x, force, offset, jacobian=jac)
        return w + wf, j + jf

    _, jac = total(rot, t, True)
    h = 1e-6
    num = np.zeros((6, 6))
    for j in range(6):
        dx = np.zeros(6)
        dx[j] = h
        wp, _ = total(exp_so3(dx[None, :3]) @ rot, t + dx[3:], False)
        wm, _ = total(exp_so3(-dx[None, :3]) @ rot, t - dx[3:], False)
        num[:, j] = (wp[0] - wm[0]) / (2 * h)
    np.testing.assert_allclose(jac[0], num, rtol=1e-4, atol=1e-4 * np.abs(num).max())


def test_a_case_that_cannot_converge_is_named() -> None:
    from spinefuse.errors import ConvergenceError

    g = reference_geometry()
    model = build_model([g, g], [Construct(), Construct()])
    huge = np.array([[0.0, 0.0, 0.0], [-2.0e6, 0.0, 0.0]])  # 2000 N·m on spine 1
    with pytest.raises(ConvergenceError, match=r"case 1 \(spine 1\)"):
        solve(model, Loads(huge, np.zeros(2), np.arange(2)), np.array([1.0]))


def test_geometries_the_model_cannot_take_are_refused_by_name() -> None:
    from spinefuse.errors import GeometryError, LevelError
    from spinefuse.mechanics.model import check_geometry

    g = reference_geometry()
    partial = g.model_copy(
        update={
            "vertebrae": {
                **g.vertebrae,
                "L2": g.vertebra("L2").model_copy(update={"partial": True}),
            }
        }
    )
    with pytest.raises(GeometryError, match="L2 is cut by the field of view"):
        check_geometry(partial)
    gap = g.model_copy(update={"discs": {k: v for k, v in g.discs.items() if k != "L3-L4"}})
    with pytest.raises(LevelError, match="not contiguous"):
        check_geometry(gap)
    with pytest.raises(LevelError, match="not contiguous"):
        build_model([g], [Construct()], segments=("L1-L2", "L3-L4"))
    upper = g.model_copy(
        update={
            "vertebrae": {k: v for k, v in g.vertebrae.items() if k != "S1"},
            "discs": {k: v for k, v in g.discs.items() if k != "L5-S1"},
        }
    )
    with pytest.raises(LevelError, match="L5-S1, which is not modelled"):
        build_model([upper], [parse_constructs(["laminectomy:L5-S1"])])
