"""The quality gate on real label maps, as given and modified the ways label maps go wrong:
two levels swapped, every level shifted by one, a level missing, a level or the scan cut short,
a header whose voxel size is off by x5 or x10."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from spinefuse.errors import LabelMapError
from spinefuse.imaging import builtin_ct
from spinefuse.imaging.label_gate import gate_label_map, naming_checks
from spinefuse.imaging.nifti import read_nifti
from spinefuse.imaging.volume import Volume

from .real_scans import Scan, cropped, totalseg_example, tptbox

TS = "ct/totalsegmentator_example"


@pytest.fixture(scope="module")
def example(shared_data: Path) -> tuple[Volume, Volume]:
    scan = totalseg_example(shared_data)
    return scan.ct, scan.labels


def _relabel(labels: Volume, mapping: dict[int, int]) -> Volume:
    out = labels.array.copy()
    for old, new in mapping.items():
        out[labels.array == old] = new
    return replace(labels, array=out)


def _failed(verdict: object, check: str) -> list[str]:
    return [m for m in verdict.messages if m.startswith("FAIL") and f" {check}:" in m]  # type: ignore[attr-defined]


def test_real_maps_pass_with_their_cut_levels_flagged(
    example: tuple[Volume, Volume], shared_data: Path
) -> None:
    """The example's L1-S1 pass every check (sizes within the adult ranges); T11 (a fragment)
    and T12 reach the scan's top slice: partial, no screw there. TPTBox's L3 passes, its L2
    and L4 are cut by the crop."""
    _, labels = example
    v = gate_label_map(labels, "totalseg")
    assert v.status == "needs_confirmation"
    assert [lv.name for lv in v.levels] == ["T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1"]
    for name in ("L1", "L2", "L3", "L4", "L5", "S1"):
        lv = v.level(name)
        assert lv.status == "pass" and lv.plannable, (name, lv.checks)
        # measured sizes of an adult lumbar vertebra (ranges in data/vertebra_ranges.yaml)
        assert lv.height_mm is not None and 20.0 <= lv.height_mm <= 30.0, name
        assert lv.depth_mm is not None and 25.0 <= lv.depth_mm <= 36.0, name
    assert v.level("T12").partial and not v.level("T12").plannable
    t = gate_label_map(tptbox(shared_data).labels, "totalseg")
    assert [lv.name for lv in t.levels] == ["L2", "L3", "L4"]
    assert t.level("L3").status == "pass" and t.level("L2").partial and t.level("L4").partial


def test_swapped_levels_fail_on_their_order(example: tuple[Volume, Volume]) -> None:
    _, labels = example
    v = gate_label_map(_relabel(labels, {29: 28, 28: 29}), "totalseg")
    assert v.status == "fail"
    assert v.level("L3").status == "fail" and v.level("L4").status == "fail"
    assert any("L4 lies above L3" in m for m in _failed(v, "order"))
    with pytest.raises(LabelMapError, match="L3 order"):
        v.raise_on_fail("swapped map")


def test_shifted_map_fails_against_the_anchors_in_the_ct(example: tuple[Volume, Volume]) -> None:
    """Every level named one too high (T11…S1 as T10…L5): sizes and order still look right;
    the sacrum, crests and lowest ribs in the CT show the shift."""
    ct, labels = example
    shifted = _relabel(labels, {k: k + 1 for k in range(26, 34)})
    v = gate_label_map(shifted, "totalseg", image=ct)
    assert v.status == "fail"
    assert any("named 1 level(s) too high" in m for m in _failed(v, "naming"))
    assert v.level("L4").status == "needs_confirmation"  # told it is the L5 of the anatomy
    # the map as given agrees with the anatomy: no naming finding on a whole level
    as_given = gate_label_map(labels, "totalseg", image=ct)
    assert as_given.status != "fail"
    assert not [m for m in as_given.messages if "naming" in m and not m.split()[1] == "T11"]


def test_the_naming_check_s_quick_segmentation_gives_the_full_one_s_verdict(
    example: tuple[Volume, Volume], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The naming check segments the CT on a 2 mm grid without the outline on the scan's own
    grid; on the shifted example (a finding on every level and on the map) its verdict is
    word for word that of the full segmentation."""
    ct, labels = example
    shifted = _relabel(labels, {k: k + 1 for k in range(26, 34)})
    quick = naming_checks(shifted, "totalseg", ct)
    assert [c.status for c in quick.map] == ["fail"]
    assert sum(1 for found in quick.levels if found) == 7
    full = builtin_ct.BuiltinCTBackend
    monkeypatch.setattr(builtin_ct, "BuiltinCTBackend", lambda **_: full())
    assert naming_checks(shifted, "totalseg", ct) == quick


def test_missing_and_truncated_levels_are_caught(example: tuple[Volume, Volume]) -> None:
    ct, labels = example
    gone = gate_label_map(_relabel(labels, {29: 0}), "totalseg")
    assert gone.status == "fail" and any("L3 missing between L2 and L4" in m for m in gone.messages)
    # half of L3's label erased: its body is half as high, asked to be confirmed
    arr = labels.array.copy()
    l3 = arr == 29
    z = np.argwhere(l3)[:, 2]
    arr[l3 & (np.arange(arr.shape[2])[None, None, :] > np.median(z))] = 0
    half = gate_label_map(replace(labels, array=arr), "totalseg").level("L3")
    assert half.status == "needs_confirmation" and half.height_mm is not None
    assert half.height_mm < 17.0
    assert "height" in [c.check for c in half.checks if c.status != "pass"]
    # the scan cut through L3: L3 is partial, the levels below it whole
    cut = gate_label_map(
        cropped(_scan_of(ct, labels), above_mm=float(_l3_middle(labels))).labels, "totalseg"
    )
    assert cut.level("L3").partial and not cut.level("L3").plannable
    assert cut.level("L4").plannable and cut.level("L5").plannable


def _scan_of(ct: Volume, labels: Volume) -> Scan:
    return Scan("example", ct, labels, None, "S1")


def _l3_middle(labels: Volume) -> float:
    ijk = np.argwhere(labels.array == 29).mean(axis=0)
    return float(labels.voxel_to_world(ijk)[2])


@pytest.mark.parametrize("factor", [5.0, 10.0, 0.2])
def test_voxel_size_off_in_the_header_fails_the_physical_size(
    example: tuple[Volume, Volume], factor: float
) -> None:
    _, labels = example
    affine = labels.affine.copy()
    affine[:3, :3] *= factor
    v = gate_label_map(replace(labels, affine=affine), "totalseg")
    assert v.status == "fail"
    for name in ("L2", "L3", "L4"):
        failed = {c.check for c in v.level(name).failed()}
        assert {"volume", "width", "depth"} <= failed, (name, factor)
    assert any("check the voxel size in the header" in m for m in v.messages)


def test_verse_map_flags_its_low_l1_and_passes_the_rest(shared_data: Path) -> None:
    """VerSe's sample: T9-L5 pass; its L1 body is 9 mm high in the middle (a compressed
    vertebra), for the surgeon to confirm, not a failure of the map."""
    mask = read_nifti(shared_data / "ct/verse_sample/sub-verse004_seg-vert_msk.nii.gz", "SEG")
    v = gate_label_map(mask, "verse")
    assert [lv.name for lv in v.levels][0] == "T9" and v.levels[-1].name == "L5"
    l1 = v.level("L1")
    assert l1.status == "needs_confirmation" and l1.height_mm is not None and l1.height_mm < 12
    assert any("fractured or wedged" in c.reason for c in l1.checks)
    for name in ("T10", "T11", "T12", "L2", "L3", "L4", "L5"):
        assert v.level(name).status == "pass", (name, v.level(name).checks)


def test_l6_asks_for_the_count(example: tuple[Volume, Volume]) -> None:
    """A sixth lumbar vertebra (VerSe ID 25) is transitional anatomy to confirm."""
    _, labels = example
    verse_ids = {33: 18, 32: 19, 31: 20, 30: 21, 29: 22, 28: 23, 27: 25, 26: 26}  # L5 as L6
    v = gate_label_map(_relabel(labels, verse_ids), "verse")
    l6 = v.level("L6")
    assert "transitional" in [c.check for c in l6.checks if c.status == "needs_confirmation"]
    assert any("L5 missing" in m for m in v.messages)  # the map skips L5 between L4 and L6
