"""The dural sac at the disc level, measured on CT by its density, against the phantom's truth."""

from __future__ import annotations

import numpy as np
import pytest

from spinefuse.anatomy.dural_sac import measure_dural_sac, with_dural_sacs
from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.anatomy.phantom import render_ct
from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.imaging.volume import Volume


@pytest.fixture(scope="module")
def stenotic() -> tuple[SpineGeometry, Volume]:
    spec = VirtualPatientSpec(
        slip_percent={"L4-L5": 15.0},
        disc_height_loss={"L4-L5": 0.3},
        stenosis_csa_mm2={"L4-L5": 60.0, "L2-L3": 95.0},
    )
    g = virtual_spine(spec)
    ct, _ = render_ct(g, 0.8, seed=4)
    return g, ct


def test_sac_areas_match_the_truth(stenotic: tuple[SpineGeometry, Volume]) -> None:
    truth, ct = stenotic
    # measure on the geometry stripped of its disc canals (as the imaging stage gives it)
    bare = truth.model_copy(
        update={"discs": {k: d.model_copy(update={"canal": None}) for k, d in truth.discs.items()}}
    )
    measured = with_dural_sacs(ct, bare)
    for name, disc in measured.discs.items():
        assert disc.canal is not None, name
        true = truth.disc(name).canal
        assert true is not None
        # within 20 % of the area (smoothing rounds the sac's outline) and 1.5 mm of the AP
        assert disc.canal.area_mm2 == pytest.approx(true.area_mm2, rel=0.2), name
        assert disc.canal.ap_diameter_mm == pytest.approx(true.ap_diameter_mm, abs=1.5), name
    # the stenoses are found where they are, and graded apart from the normal levels
    areas = {k: d.canal.area_mm2 for k, d in measured.discs.items() if d.canal}
    assert (
        areas["L4-L5"]
        < 75.0
        < areas["L2-L3"]
        < 100.0
        < min(areas[k] for k in ("L1-L2", "L3-L4", "L5-S1"))
    )


def test_unmeasurable_levels_give_none(stenotic: tuple[SpineGeometry, Volume]) -> None:
    g, ct = stenotic
    cut = g.model_copy(
        update={
            "vertebrae": {
                **g.vertebrae,
                "L1": g.vertebra("L1").model_copy(update={"partial": True}),
            }
        }
    )
    assert measure_dural_sac(ct, cut, "L1-L2") is None
    flat = Volume(np.full(ct.shape, 300, dtype=np.int16), ct.affine, "CT")  # no fluid at all
    assert measure_dural_sac(flat, g, "L3-L4") is None
    far = ct.affine.copy()
    far[2, 3] += 500.0  # the plane lies outside the image
    assert measure_dural_sac(Volume(ct.array, far, "CT"), g, "L3-L4") is None
