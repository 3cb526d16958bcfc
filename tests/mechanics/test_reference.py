"""The reference spine: measured once from the ArtiSynth model and packaged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spinefuse.conventions import LUMBAR, LUMBAR_SEGMENTS
from spinefuse.errors import GeometryError
from spinefuse.mechanics.reference import read_artisynth, reference_geometry, reference_spine


def _leaves(x: object, path: str = "") -> dict[str, object]:
    if isinstance(x, dict):
        return {k: v for key, val in x.items() for k, v in _leaves(val, f"{path}.{key}").items()}
    if isinstance(x, list | tuple):
        return {k: v for i, val in enumerate(x) for k, v in _leaves(val, f"{path}[{i}]").items()}
    return {path: x}


def test_packaged_reference_equals_a_fresh_measurement(shared_data: Path) -> None:
    # Equal to 1e-9 mm / degree: the last bits of a float differ between BLAS builds.
    fresh = _leaves(read_artisynth(shared_data / "anatomy" / "artisynth_lumbosacral").model_dump())
    packaged = _leaves(reference_spine().model_dump())
    assert fresh.keys() == packaged.keys()
    for key, value in fresh.items():
        if isinstance(value, float):
            assert value == pytest.approx(packaged[key], rel=1e-9, abs=1e-9), key
        else:
            assert value == packaged[key], key


def test_reference_anatomy_is_a_plausible_adult_lumbar_spine() -> None:
    g = reference_geometry()
    assert g.levels == LUMBAR and g.segments == LUMBAR_SEGMENTS
    for name in LUMBAR[:-1]:
        v = g.vertebra(name)
        # Adult lumbar endplates: width 40-56 mm, depth 30-42 mm (Panjabi et al. 1992).
        assert 40.0 < v.body_width_mm < 56.0, name
        assert 30.0 < v.body_depth_mm < 42.0, name
        assert set(v.pedicles) == {"left", "right"}
    for seg in LUMBAR_SEGMENTS:
        d = g.disc(seg)
        assert 7.0 < d.middle_height_mm < 15.0, seg  # lumbar disc heights
        assert 0.0 < d.wedge_deg < 15.0, seg  # every lumbar disc is lordotic
    lordosis = sum(g.disc(s).wedge_deg for s in LUMBAR_SEGMENTS)
    assert 25.0 < lordosis < 45.0


def test_reference_ligaments_follow_the_artisynth_parameters() -> None:
    ref = reference_spine()
    l45 = {(b.kind, b.side): b for b in ref.ligaments["L4-L5"]}
    # research/biomechanics.md B1: per-spring stiffness and spring counts at L4-L5.
    assert l45[("ALL", None)].stiffness_n_per_strain == 485.0
    assert len(l45[("ALL", None)].origin) == 9
    assert len(l45[("LF", None)].origin) == 11
    assert l45[("CL", "left")].reference_strain == pytest.approx(0.55)
    g = ref.geometry
    # Every spring's origin lies on the upper vertebra side: cranial to its insertion, and the
    # ALL in front of the body, the SSL behind it.
    for seg, bundles in ref.ligaments.items():
        y_mid = g.disc(seg).centre[1]
        for b in bundles:
            o, i = np.asarray(b.origin), np.asarray(b.insertion)
            if b.kind != "CL":
                assert (o[:, 2] > i[:, 2]).all(), (seg, b.kind)
            if b.kind == "ALL":
                assert (o[:, 1] > y_mid).all()
            if b.kind == "SSL":
                assert (o[:, 1] < y_mid - 40.0).all()
    for seg, frac in ref.nucleus_area_fraction.items():
        assert 0.3 < frac < 0.6, seg  # the nucleus is 30-50 % of the disc cross-section


def test_reading_a_wrong_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(GeometryError, match="missing rigid/"):
        read_artisynth(tmp_path)
