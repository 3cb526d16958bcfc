from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from spinefuse.errors import LabelMapError
from spinefuse.imaging.labels import (
    convention_ids,
    label_centroids,
    on_grid,
    read_label_map,
    read_verse_centroids,
    vertebra_ids,
    write_verse_centroids,
)
from spinefuse.imaging.nifti import read_nifti
from spinefuse.imaging.orientation import reorient
from spinefuse.imaging.volume import Volume

VERSE = "ct/verse_sample/"


def test_totalsegmentator_levels_in_craniocaudal_order(shared_data: Path) -> None:
    folder = shared_data / "ct/totalsegmentator_example"
    ct = read_nifti(folder / "example_ct.nii.gz")
    labels = read_label_map(folder / "totalseg.nii.gz", reference=ct)
    ids = vertebra_ids(labels, "totalseg")
    assert list(ids) == ["T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1"]
    assert ids["L1"] == 31 and ids["S1"] == 26
    # the same map read with VerSe IDs would be nonsense: 26 is the sacrum there, 31+ unknown
    assert list(vertebra_ids(labels, "verse")) == ["S1"]


def test_custom_mapping_and_bad_conventions() -> None:
    labels = Volume(array=np.pad(np.full((2, 2, 2), 7), 1), affine=np.eye(4), modality="SEG")
    assert vertebra_ids(labels, {7: "l4"}) == {"L4": 7}
    with pytest.raises(LabelMapError, match="'X9' is not a vertebra"):
        convention_ids({7: "X9"})
    with pytest.raises(LabelMapError, match=r"IDs present: \[7\]"):
        vertebra_ids(labels, "totalseg")
    with pytest.raises(LabelMapError, match="'nnunet' is unknown"):
        convention_ids("nnunet")  # type: ignore[arg-type]


def test_totalseg_sacrum_stands_in_for_s1() -> None:
    arr = np.zeros((4, 4, 6), np.int32)
    arr[..., :2], arr[..., 3:5] = 25, 27
    ids = vertebra_ids(Volume(array=arr, affine=np.eye(4), modality="SEG"), "totalseg")
    assert ids == {"L5": 27, "S1": 25}


def test_grid_mismatch_is_an_error_unless_resampling(shared_data: Path) -> None:
    folder = shared_data / "ct/totalsegmentator_example"
    ct = read_nifti(folder / "example_ct.nii.gz")
    labels = read_label_map(folder / "totalseg.nii.gz")
    shifted = replace(labels, affine=labels.affine @ np.diag([0.5, 0.5, 0.5, 1.0]))
    with pytest.raises(LabelMapError, match=r"differs from the image's \(122, 101, 112\)"):
        on_grid(shifted, ct)
    # a label map stored at half the voxel size resamples back exactly (nearest neighbour)
    fine_arr = labels.array.repeat(2, 0).repeat(2, 1).repeat(2, 2)
    fine_aff = labels.affine.copy()
    fine_aff[:3, :3] /= 2.0
    fine_aff[:3, 3] -= 0.75  # centre of the first fine voxel inside the first coarse one
    fine = Volume(array=fine_arr, affine=fine_aff, modality="SEG")
    back = on_grid(fine, ct, resample=True)
    assert back.same_grid(ct)
    assert np.mean(back.array == labels.array) > 0.999


def test_verse_centroids_lie_inside_their_vertebrae(shared_data: Path) -> None:
    mask = read_label_map(shared_data / VERSE / "sub-verse004_seg-vert_msk.nii.gz")
    cents = read_verse_centroids(shared_data / VERSE / "sub-verse004_seg-subreg_ctd.json", mask)
    assert list(cents) == ["T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5"]
    ids = vertebra_ids(mask, "verse")
    for name, point in cents.items():
        ijk = np.rint(mask.world_to_voxel(np.asarray(point))).astype(int)
        assert mask.array[tuple(ijk)] == ids[name], name
    # body centroids lie anterior (+y) of the whole-vertebra centres of mass (arch behind)
    com = label_centroids(mask, "verse")
    assert all(cents[n][1] - com[n][1] > 5.0 for n in cents)


def test_verse_centroid_file_round_trips(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / VERSE / "sub-verse004_seg-subreg_ctd.json"
    mask = read_label_map(shared_data / VERSE / "sub-verse004_seg-vert_msk.nii.gz")
    cents = read_verse_centroids(src, mask)
    # written in the original P, I, R storage order, the numbers are those of the source file
    stored = reorient(mask, (1, 2, 0), (True, True, False))
    out = write_verse_centroids(tmp_path / "ctd.json", cents, stored)
    original, written = json.loads(src.read_text()), json.loads(out.read_text())
    assert written[0] == original[0] == {"direction": ["P", "I", "R"]}
    for a, b in zip(original[1:], written[1:], strict=True):
        assert a["label"] == b["label"]
        assert [a[k] for k in "XYZ"] == pytest.approx([b[k] for k in "XYZ"], abs=1e-3)
    back = read_verse_centroids(out, mask)
    for name in cents:
        np.testing.assert_allclose(back[name], cents[name], atol=1e-2)


def test_corrupt_centroid_file(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text('[{"direction": ["P","I"]}]')
    grid = Volume(array=np.zeros((2, 2, 2)), affine=np.eye(4))
    with pytest.raises(LabelMapError, match="not three of"):
        read_verse_centroids(bad, grid)
    bad.write_text("{not json")
    with pytest.raises(LabelMapError, match="not a VerSe centroid file"):
        read_verse_centroids(bad, grid)


def test_the_wrong_convention_names_the_one_that_matches() -> None:
    import numpy as np
    import pytest

    from spinefuse.errors import LabelMapError
    from spinefuse.imaging.labels import vertebra_ids
    from spinefuse.imaging.volume import Volume

    verse = np.zeros((4, 4, 4), dtype=np.int16)
    verse[0], verse[1] = 20, 21  # VerSe L1, L2
    vol = Volume(verse, np.eye(4), modality="SEG", source="verse_map.nii.gz")
    with pytest.raises(LabelMapError, match="match the 'verse' convention: set label_convention"):
        vertebra_ids(vol, "totalseg_v2")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "not a VerSe centroid file"),
        ('[{"direction": ["P","I","R"]}, {"label": 20, "X": NaN, "Y": 1, "Z": 2}]', "finite"),
        (b'[{"direction": ["P","I","R"]}] \xff', "not UTF-8"),
    ],
)
def test_malformed_centroid_files(tmp_path: Path, content: str | bytes, message: str) -> None:
    bad = tmp_path / "c.json"
    bad.write_bytes(content.encode() if isinstance(content, str) else content)
    grid = Volume(array=np.zeros((2, 2, 2)), affine=np.eye(4))
    with pytest.raises(LabelMapError, match=message):
        read_verse_centroids(bad, grid)
