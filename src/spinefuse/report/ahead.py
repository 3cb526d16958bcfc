"""The reports' pictures of a stage's records, drawn ahead in a forked process while the later
stages run: after the plan, the imaging pictures (CT reformats, X-ray overlays), the root map,
the 3-D and sagittal views of the spine and its planned construct, and the patient's picture
of the operation; after the healing, the range-of-motion and healing charts. Each is drawn by
the same call the report makes, so the report finds it in the store
(:mod:`spinefuse.report.picture_store`) and does not draw it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spinefuse.report import patient, surgeon
from spinefuse.report.picture_store import PictureStore, remembering

if TYPE_CHECKING:
    from spinefuse.pipeline import CaseResult, StageName


def pictures_ahead(r: CaseResult, stage: StageName) -> PictureStore:
    """The pictures the reports will show of the records up to ``stage`` (``plan`` or
    ``healing``: :data:`spinefuse.stages.PICTURES_AFTER`), by the digest of their call."""
    store: PictureStore = {}
    with remembering(store):
        if stage == "plan":
            surgeon.surgeon_imaging(r)
            surgeon.anatomy_view(r)
            if r.assessment is not None:
                surgeon.concordance_section(r.assessment)
            if r.plan is not None:
                surgeon.plan_section(r.plan, r.geometry, r.assessment)
            patient.operation_picture(r)
        elif stage == "healing":
            if r.mechanics is not None:
                surgeon.mechanics_section(r.mechanics, r.plan)
            if r.healing is not None:
                surgeon.healing_section(r.healing)
    return store
