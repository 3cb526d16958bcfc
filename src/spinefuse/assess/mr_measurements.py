"""Every MR measurement of a study, per disc level: disc height and Pfirrmann grade, herniation,
central, lateral-recess and foraminal stenosis, Modic changes and facet effusion, each with its
method and source; what the study does not allow is listed as not measured, with the reason.

The names are :data:`spinefuse.assess.assessment.MrMeasurementName`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spinefuse.assess.assessment import Measurement, NotMeasured
from spinefuse.assess.facet_effusion import measure_effusion
from spinefuse.assess.herniation import measure_herniation
from spinefuse.assess.modic import measure_modic
from spinefuse.assess.mr_levels import disc_sites, outline, pedicles
from spinefuse.assess.mr_stenosis import measure_central, measure_foramina, measure_recesses
from spinefuse.assess.pfirrmann import measure_height, measure_signal
from spinefuse.imaging.mr_series import MrSeries


@dataclass(frozen=True)
class MrReading:
    """The MR measurements of a study and what could not be measured."""

    measurements: list[Measurement] = field(default_factory=list)
    not_measured: list[NotMeasured] = field(default_factory=list)


def measure_mr(mr: MrSeries | None) -> MrReading:
    """Read every disc level of an MR study (nothing without one; everything refused, with the
    reason, without its label map)."""
    if mr is None:
        return MrReading()
    if mr.spine is None or mr.labelled_image is None:
        reason = (
            "the MR study has no label map: give its label_map (TotalSegmentator total_mr, "
            "SPINEPS, TotalSpineSeg) to measure discs, herniations and stenosis"
        )
        return MrReading([], [NotMeasured(name="mr_levels", reason=reason)])
    ms: list[Measurement] = []
    missing: list[NotMeasured] = []
    sites = disc_sites(mr.spine)
    if not sites:
        reason = "the label map has no disc between two labelled vertebrae"
        return MrReading([], [NotMeasured(name="mr_levels", reason=reason)])
    for site in sites:
        first, _, _ = measure_height(site, mr, None)
        ol = outline(site, 0.5 * first.height_mm) if first is not None else None
        ped = pedicles(site, ol) if ol is not None else None
        height, m1, n1 = measure_height(site, mr, ol)
        parts = [
            (m1, n1),
            measure_signal(site, mr, height, ol),
            measure_herniation(site, ol, ped, mr.labelled_image),
            measure_central(site, mr, ol),
            measure_recesses(site, ol, ped, mr.labelled_image),
            measure_foramina(site, mr, ol, ped),
            measure_modic(site, mr, ol),
            measure_effusion(site, mr, ol),
        ]
        for found, refused in parts:
            ms += [m.model_copy(update={"detail": {**m.detail, "from": "MR"}}) for m in found]
            missing += refused
    return MrReading(ms, missing)
