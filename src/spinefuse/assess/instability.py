"""Dynamic instability from a flexion/extension pair of lateral views.

Per segment present on both views: the sagittal translation (the change of the slip along the
lower endplate, flexion minus extension; mm when both views are scaled, always also as % of the
lower endplate depth, which cancels magnification) and the angulation change (the disc angle on
extension minus on flexion, deg: the sagittal range of motion). Cut-offs: block
``instability`` of ``data/assessment_criteria.yaml``.
"""

from __future__ import annotations

from spinefuse.assess.assessment import Measurement
from spinefuse.assess.criteria import block, source
from spinefuse.assess.sagittal import disc_angle_deg, slip
from spinefuse.assess.views import SagittalView
from spinefuse.errors import ImagingError


def measure_instability(flexion: SagittalView, extension: SagittalView) -> list[Measurement]:
    """Translation and angulation change per segment seen on both films."""
    common = [s for s in flexion.segments() if s in extension.segments()]
    if not common:
        raise ImagingError(
            f"flexion ({flexion.source}) and extension ({extension.source}) views share no "
            "segment with both endplates marked: mark the same vertebrae on both films"
        )
    crit = block("instability")
    src = source("instability")
    scaled = flexion.unit == "mm" and extension.unit == "mm"
    out: list[Measurement] = []
    for upper, lower in common:
        seg = f"{upper}-{lower}"
        f_len, f_pct, _ = slip(flexion, upper, lower)
        e_len, e_pct, _ = slip(extension, upper, lower)
        out.append(
            Measurement(
                name="translation_percent",
                value=f_pct - e_pct,
                unit="%",
                level=seg,
                normal_range=(-crit["translation_percent"], crit["translation_percent"]),
                method=crit["method"],
                source=src,
            )
        )
        if scaled:
            out.append(
                Measurement(
                    name="translation_mm",
                    value=f_len - e_len,
                    unit="mm",
                    level=seg,
                    normal_range=(-crit["translation_mm"], crit["translation_mm"]),
                    method=crit["method"],
                    source=src,
                )
            )
        angle = disc_angle_deg(extension, upper, lower) - disc_angle_deg(flexion, upper, lower)
        out.append(
            Measurement(
                name="angulation_change",
                value=angle,
                unit="deg",
                level=seg,
                normal_range=(-crit["angulation_deg"], crit["angulation_deg"]),
                method=crit["method"],
                source=src,
            )
        )
    return out
