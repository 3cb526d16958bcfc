"""The real MR example (TotalSegmentator's test files: 20 axial slices at 3 mm, a T1-weighted
abdominal MR, labels in total_mr IDs with one ID for every vertebra and one for every disc) read
through a case: two vertebrae, the disc between them, its height and nucleus signal checked for
plausibility, and every measurement its voxels do not allow refused with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spinefuse.assess.mr_measurements import MrReading, measure_mr
from spinefuse.case import case_from_dict
from spinefuse.imaging.images import Images, read_images

FOLDER = "mr/totalsegmentator_example"


@pytest.fixture(scope="module")
def read(shared_data: Path) -> tuple[Images, MrReading]:
    folder = shared_data / FOLDER
    case = case_from_dict(
        {
            "schema": "spinefuse/case@1",
            "id": "real-mr",
            "patient": {"age_years": 50, "sex": "male", "height_cm": 180, "weight_kg": 80},
            "history": {},
            "imaging": [
                {
                    "modality": "MR",
                    "nifti": str(folder / "example_mr_sm.nii.gz"),
                    # liver brighter than spleen, bile darker than liver, fat bright: T1
                    "weighting": "T1",
                    "label_map": str(folder / "example_seg_mr.nii.gz"),
                    "label_convention": "totalseg_mr",
                }
            ],
            # which levels are in view is not recorded; the test names the lower one L2
            "segmentation": {"options": {"lowest_in_view": "L2"}},
        }
    )
    images = read_images(case)
    return images, measure_mr(images.mr)


def test_two_vertebrae_and_the_disc_between(read: tuple[Images, MrReading]) -> None:
    images, reading = read
    assert images.mr is not None and images.mr.spine is not None
    assert list(images.mr.spine.vertebrae) == ["L1", "L2"]
    measured = {m.level for m in reading.measurements if m.name == "mr_disc_height"}
    assert measured == {"L1-L2"}  # the discs above and below are cut by the field of view
    cut = {n.level for n in reading.not_measured if "field of view" in n.reason}
    assert cut == {"T12-L1", "L2-L3"}


def test_disc_height_is_plausible(read: tuple[Images, MrReading]) -> None:
    _, reading = read
    h = next(m for m in reading.measurements if m.name == "mr_disc_height")
    # lumbar discs 8.8 +/- 1.4 mm on radiographs (Thieme 2023), thoracolumbar ones thinner
    # (T12-L1 about 6 mm): a disc near the thoracolumbar junction lies in 4-12 mm; at 3 mm
    # voxels the mean thickness is no finer than about a voxel
    assert 4.0 <= h.value <= 12.0
    assert float(h.detail["voxel_along_axis_mm"]) == pytest.approx(3.0, abs=0.1)


def test_nucleus_signal_is_plausible_on_t1(read: tuple[Images, MrReading]) -> None:
    images, reading = read
    ratio = next(m for m in reading.measurements if m.name == "disc_signal_ratio")
    assert ratio.detail["weighting"] == "T1"
    # on T1 the nucleus is brighter than CSF and darker than fatty marrow (Modic et al. 1988;
    # spin-echo model of data/mr_tissue.yaml: nucleus/CSF about 2.3 at TR 500 / TE 10)
    assert 1.5 <= ratio.value <= 6.0
    assert images.mr is not None and images.mr.spine is not None
    arr = np.asarray(images.mr.spine.labels.array)
    marrow = np.asarray(images.mr.images[0].volume.array)[arr == images.mr.spine.vertebrae["L2"]]
    assert float(ratio.detail["nucleus"]) < float(np.median(marrow))
    refused = {n.name for n in reading.not_measured if n.level == "L1-L2"}
    assert "pfirrmann_grade" in refused  # Pfirrmann grades T2 signal
    reasons = " ".join(n.reason for n in reading.not_measured if n.level == "L1-L2")
    assert "T2" in reasons and "3.0 mm" in reasons
    assert {"herniation_extent", "mr_dural_sac_area", "modic_type"} <= refused
