"""Cases, their uploaded images, the image views and the label confirmation."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spinefuse.case import (
    MAX_NOTES_CHARS,
    AnatomyOptions,
    ClinicalHistory,
    Examination,
    LabelConvention,
    MrWeighting,
    Patient,
    Plane,
    Preferences,
    Segmentation,
)
from spinefuse.errors import SpinefuseError
from spinefuse.service.api.access import Id, audit, case_of, workstation
from spinefuse.service.auth import Principal, db_session, require
from spinefuse.service.files import FileKind, UploadError
from spinefuse.service.store.models import (
    CaseImage,
    CaseRow,
    LabelVersion,
    RunRow,
    StoredFile,
)
from spinefuse.service.workstation import (
    LevelEdit,
    LevelView,
    WorkstationError,
    case_for_run,
    latest_labels,
    level_views,
    studies_of,
)

router = APIRouter(tags=["cases"])


class CaseIn(BaseModel):
    """A new case: the pipeline's Case without its imaging (images are uploaded after)."""

    id: str = Field(
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="a pseudonymous case id (no name or record number)",
    )
    patient: Patient
    history: ClinicalHistory
    examination: Examination | None = None
    segmentation: Segmentation = Field(default_factory=Segmentation)
    anatomy: AnatomyOptions = Field(default_factory=AnatomyOptions)
    preferences: Preferences = Field(default_factory=Preferences)
    notes: str = Field(default="", max_length=MAX_NOTES_CHARS)


class ImageOut(BaseModel):
    id: int
    kind: str
    modality: str
    role: str
    sha256: str
    details: dict[str, Any] = Field(
        default_factory=dict, description="MR series details or a label map's convention"
    )


class CaseOut(BaseModel):
    id: int
    case_id: str
    record: dict[str, Any] = Field(description="the Case record (imaging as the next run sees it)")
    images: list[ImageOut]
    labels_confirmed: int | None = Field(description="the confirmed label version, if any")
    runs: int
    created_at: str


def _case_out(s: Session, row: CaseRow) -> CaseOut:
    images = s.scalars(select(CaseImage).where(CaseImage.case_pk == row.id).order_by(CaseImage.id))
    lv = latest_labels(s, row.id)
    record = json.loads(row.record)
    record["imaging"] = [
        {
            **st.fields,
            **{k: f"{sha[:12]}…" for k, (sha, _kind) in st.files.items()},
            **(
                {"series": [{**d, "file": f"{sha[:12]}…"} for d, (sha, _k) in st.series]}
                if st.series
                else {}
            ),
        }
        for st in studies_of(s, row.id)
    ]
    n_runs = len(s.scalars(select(RunRow.id).where(RunRow.case_pk == row.id)).all())
    return CaseOut(
        id=row.id,
        case_id=row.case_id,
        record=record,
        images=[
            ImageOut(
                id=i.id,
                kind=i.kind,
                modality=i.modality,
                role=i.role,
                sha256=i.sha256,
                details=json.loads(i.details or "{}"),
            )
            for i in images
        ],
        labels_confirmed=lv.version if lv is not None else None,
        runs=n_runs,
        created_at=row.created_at.isoformat(),
    )


@router.get("/cases", response_model=list[CaseOut])
def list_cases(
    p: Principal = Depends(require("read")), s: Session = Depends(db_session, scope="function")
) -> list[CaseOut]:
    """The cases of the user's team, newest first."""
    rows = s.scalars(
        select(CaseRow).where(CaseRow.team_id == p.team_id).order_by(CaseRow.id.desc())
    )
    return [_case_out(s, r) for r in rows]


@router.post("/cases", response_model=CaseOut, status_code=201)
def create_case(
    body: CaseIn,
    p: Principal = Depends(require("write_case")),
    s: Session = Depends(db_session, scope="function"),
) -> CaseOut:
    """A new case of the user's team (its images are uploaded next)."""
    from spinefuse.case import Case
    from spinefuse.stages import check_case

    case = Case(
        id=body.id,
        patient=body.patient,
        history=body.history,
        examination=body.examination,
        segmentation=body.segmentation,
        anatomy=body.anatomy,
        preferences=body.preferences,
        notes=body.notes,
    )
    check_case(case)
    row = CaseRow(team_id=p.team_id, case_id=case.id, record=case.to_json(), created_by=p.user_id)
    s.add(row)
    try:
        s.flush()
    except IntegrityError:
        raise HTTPException(409, f"the team has a case {body.id!r} already") from None
    audit(s, p, "case_created", f"case:{row.id}")
    return _case_out(s, row)


@router.get("/cases/{case_pk}", response_model=CaseOut)
def get_case(
    case_pk: Id,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
) -> CaseOut:
    """One case with its images."""
    return _case_out(s, case_of(s, p, case_pk))


@router.post("/cases/{case_pk}/images", response_model=ImageOut, status_code=201)
async def upload_image(
    case_pk: Id,
    kind: FileKind = Form(description="nifti | label_map | dicom_zip | xray_landmarks"),
    file: UploadFile = File(description="the file (a DICOM series as a zip of its folder)"),
    modality: Literal["CT", "MR", "XR"] = Form("CT"),
    role: Literal["preop", "flexion", "extension", "postop"] = Form("preop"),
    weighting: MrWeighting | None = Form(
        None, description="an MR series' weighting: the volume joins the MR study's series"
    ),
    plane: Plane | None = Form(None, description="an MR series' plane (else read from it)"),
    description: str = Form("", max_length=256, description="an MR series' description"),
    echo_time_ms: float | None = Form(None, gt=0, le=1000),
    repetition_time_ms: float | None = Form(None, gt=0, le=20000),
    label_convention: LabelConvention | None = Form(
        None, description="a label map's ID convention (default totalseg_v2)"
    ),
    p: Principal = Depends(require("write_case")),
    s: Session = Depends(db_session, scope="function"),
    ws: Any = Depends(workstation),
) -> ImageOut:
    """Upload an image of the case: checked, de-identified and kept by its content hash. An MR
    volume uploaded with its ``weighting`` (and plane, description, sequence times) is one
    series of the case's MR study; a label map may name its ``label_convention``."""
    case_of(s, p, case_pk)
    limit = ws.limits.max_upload
    data = await file.read(limit + 1)
    if kind == "xray_landmarks":
        modality = "XR"
    elif modality == "XR":
        raise HTTPException(422, f"a {kind} is a CT or MR image: set modality CT or MR")
    series = {
        "weighting": weighting,
        "plane": plane,
        "description": description,
        "echo_time_ms": echo_time_ms,
        "repetition_time_ms": repetition_time_ms,
    }
    details: dict[str, Any] = {k: v for k, v in series.items() if v not in (None, "")}
    if details and (modality != "MR" or kind not in ("nifti", "dicom_zip") or weighting is None):
        raise HTTPException(
            422,
            f"{', '.join(details)}: series details belong to an MR volume (kind nifti or "
            "dicom_zip, modality MR) and need its weighting",
        )
    if label_convention is not None:
        if kind != "label_map":
            raise HTTPException(422, "label_convention belongs to a label map (kind label_map)")
        details["label_convention"] = label_convention
    try:
        sha, size = ws.files.ingest(data, kind, ws.limits)
    except UploadError as err:
        status = 413 if "limit" in str(err) else 422
        raise HTTPException(status, str(err)) from None
    if s.get(StoredFile, sha) is None:
        s.add(StoredFile(sha256=sha, kind=kind, size=size))
        s.flush()
    img = CaseImage(
        case_pk=case_pk,
        kind=kind,
        modality=modality,
        role=role,
        sha256=sha,
        details=json.dumps(details, sort_keys=True),
        created_by=p.user_id,
    )
    s.add(img)
    s.flush()
    audit(s, p, "image_uploaded", f"case:{case_pk}", kind=kind, sha256=sha)
    return ImageOut(id=img.id, kind=kind, modality=modality, role=role, sha256=sha, details=details)


def _images(s: Session, row: CaseRow, ws: Any) -> Any:
    """The case's images read as the next run reads them."""
    from spinefuse.imaging.images import read_images

    with tempfile.TemporaryDirectory() as tmp:
        case = case_for_run(s, row, ws.files, Path(tmp))
        if not any(st.modality in ("CT", "MR") for st in case.imaging):
            raise HTTPException(409, "the case has no CT or MR yet")
        return read_images(case)


def _viewer_file(s: Session, row: CaseRow, which: Literal["volume", "labels"], ws: Any) -> Path:
    """A NIfTI of the case's volume or labels in RAS order for the viewer, cached by the
    hashes of the files it comes from."""
    from spinefuse.imaging.nifti import write_nifti

    key = "-".join(
        sha for st in studies_of(s, row.id) for field, sha in st.hashes() if field != "landmarks"
    )
    if not key:
        raise HTTPException(409, "the case has no CT or MR yet")
    import hashlib

    out = (
        ws.store.files_dir / "viewer" / f"{hashlib.sha256(key.encode()).hexdigest()}-{which}.nii.gz"
    )
    if not out.exists():
        images = _images(s, row, ws)
        vol = images.volume if which == "volume" else images.labels
        if vol is None:
            raise HTTPException(409, f"the case has no {which} to show")
        out.parent.mkdir(parents=True, exist_ok=True)
        write_nifti(vol, out)
    return Path(out)


@router.get("/cases/{case_pk}/volume.nii.gz", response_class=FileResponse)
def volume_file(
    case_pk: Id,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
    ws: Any = Depends(workstation),
) -> FileResponse:
    """The case's CT (else MR) as de-identified NIfTI, RAS order, for the image view."""
    path = _viewer_file(s, case_of(s, p, case_pk), "volume", ws)
    return FileResponse(path, media_type="application/gzip")


@router.get("/cases/{case_pk}/labels.nii.gz", response_class=FileResponse)
def labels_file(
    case_pk: Id,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
    ws: Any = Depends(workstation),
) -> FileResponse:
    """The label map the next run uses, as NIfTI on the volume's grid."""
    path = _viewer_file(s, case_of(s, p, case_pk), "labels", ws)
    return FileResponse(path, media_type="application/gzip")


@router.get("/cases/{case_pk}/spine")
def spine_surfaces(
    case_pk: Id,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
    ws: Any = Depends(workstation),
) -> JSONResponse:
    """Each labelled vertebra's surface (RAS mm; vertices and triangles) for the 3-D view."""
    from spinefuse.service.surfaces import label_surfaces

    row = case_of(s, p, case_pk)
    path = _viewer_file(s, row, "labels", ws)
    cached = path.with_name(path.name.replace("-labels.nii.gz", "-surfaces.json"))
    if not cached.exists():
        images = _images(s, row, ws)
        cached.write_text(json.dumps(label_surfaces(images)))
    return JSONResponse(json.loads(cached.read_text()))


@router.get("/cases/{case_pk}/levels", response_model=list[LevelView])
def levels(
    case_pk: Id,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
    ws: Any = Depends(workstation),
) -> list[LevelView]:
    """The levels of the label map as segmented, with their flags, head to pelvis."""
    row = case_of(s, p, case_pk)
    try:
        return level_views(_images(s, row, ws))
    except SpinefuseError as err:
        raise HTTPException(422, str(err)) from None


class LabelConfirmation(BaseModel):
    edits: list[LevelEdit] = Field(
        default_factory=list,
        max_length=100,
        description="renames, merges and rejections; unnamed labels are kept",
    )


class LabelVersionOut(BaseModel):
    version: int
    sha256: str
    source_sha256: str
    edits: list[LevelEdit]
    created_at: str


@router.post("/cases/{case_pk}/labels", response_model=LabelVersionOut, status_code=201)
def confirm_labels(
    case_pk: Id,
    body: LabelConfirmation,
    p: Principal = Depends(require("write_case")),
    s: Session = Depends(db_session, scope="function"),
    ws: Any = Depends(workstation),
) -> LabelVersionOut:
    """Confirm the levels (after renames, merges, rejections): a new label-map version that
    every later run uses."""
    import gzip

    import nibabel as nib
    import numpy as np

    from spinefuse.service.workstation import apply_level_edits

    row = case_of(s, p, case_pk)
    images = _images(s, row, ws)
    if images.labels is None:
        raise HTTPException(409, "the case has no label map to confirm: segment it first")
    try:
        arr = apply_level_edits(images, body.edits)
    except WorkstationError as err:
        raise HTTPException(422, str(err)) from None
    source = next(
        sha for st in studies_of(s, case_pk) for field, sha in st.hashes() if field == "label_map"
    )
    img = nib.Nifti1Image(arr.astype(np.int16), images.labels.affine)
    img.header.set_xyzt_units("mm")
    sha, size = ws.files.put_file(gzip.compress(img.to_bytes(), mtime=0), "label_map")
    if s.get(StoredFile, sha) is None:
        s.add(StoredFile(sha256=sha, kind="label_map", size=size))
        s.flush()
    last = latest_labels(s, case_pk)
    lv = LabelVersion(
        case_pk=case_pk,
        version=(last.version if last else 0) + 1,
        source_sha256=source,
        sha256=sha,
        edits=json.dumps([e.model_dump() for e in body.edits]),
        created_by=p.user_id,
    )
    s.add(lv)
    s.flush()
    audit(s, p, "labels_confirmed", f"case:{case_pk}", version=lv.version)
    return _lv_out(lv)


def _lv_out(lv: LabelVersion) -> LabelVersionOut:
    return LabelVersionOut(
        version=lv.version,
        sha256=lv.sha256,
        source_sha256=lv.source_sha256,
        edits=[LevelEdit.model_validate(e) for e in json.loads(lv.edits)],
        created_at=lv.created_at.isoformat(),
    )


@router.get("/cases/{case_pk}/labels", response_model=list[LabelVersionOut])
def label_versions(
    case_pk: Id,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
) -> list[LabelVersionOut]:
    """Every confirmed label-map version of the case, oldest first."""
    case_of(s, p, case_pk)
    rows = s.scalars(
        select(LabelVersion).where(LabelVersion.case_pk == case_pk).order_by(LabelVersion.version)
    )
    return [_lv_out(lv) for lv in rows]


@router.post("/cases/{case_pk}/segment", status_code=202)
def segment(
    case_pk: Id,
    p: Principal = Depends(require("write_case")),
    s: Session = Depends(db_session, scope="function"),
    ws: Any = Depends(workstation),
) -> dict[str, int]:
    """Segment the case's CT with its segmentation back-end, as a job."""
    row = case_of(s, p, case_pk)
    job = ws.jobs.submit("segmentation", {}, team_id=p.team_id, user_id=p.user_id, case_pk=row.id)
    audit(s, p, "segmentation_started", f"case:{row.id}", job=job)
    return {"job": job}
