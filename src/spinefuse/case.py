"""The case: who the patient is, what they suffer from, which images exist, what they prefer.

A case file is YAML (or JSON) with a versioned schema, ``schema: spinefuse/case@1``. Paths inside it
are relative to the file's folder. :func:`load_case` turns every validation problem into a
:class:`~spinefuse.errors.CaseError` naming the field, the value and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from spinefuse.conventions import VERTEBRAE, parse_segment
from spinefuse.datafiles import UserRecord, read_yaml_file
from spinefuse.errors import CaseError, LevelError, quoted
from spinefuse.records import describe_validation_error, write_atomic

CASE_SCHEMA = "spinefuse/case@1"
MAX_NOTES_CHARS = 20_000
"""Longest free-text ``notes`` (characters); longer documents belong beside the case."""
MAX_PATH_CHARS = 4096
"""Longest file or folder path in a case (characters, the usual PATH_MAX)."""

Nrs = Annotated[float, Field(ge=0, le=10, description="numeric rating scale, 0–10")]
Sex = Literal["female", "male"]
Smoking = Literal["never", "former", "current"]
Diabetes = Literal["none", "non_insulin", "insulin"]
Side3 = Literal["left", "right", "bilateral"]
Side2 = Literal["left", "right"]
MyotomeRoot = Literal["L2", "L3", "L4", "L5", "S1"]
DermatomeRoot = Literal["L1", "L2", "L3", "L4", "L5", "S1"]
Mrc = Annotated[int, Field(ge=0, le=5, description="MRC motor grade 0–5")]
ReflexGrade = Literal["absent", "reduced", "normal", "brisk"]
Reflex = Literal["patellar", "achilles"]
TensionSign = Literal["positive", "negative"]
RedFlag = Literal[
    "saddle_anaesthesia",
    "urinary_retention",
    "faecal_incontinence",
    "progressive_weakness",
    "fever",
    "weight_loss",
    "cancer_history",
    "trauma",
    "night_pain",
    "immunosuppression",
]
MrWeighting = Literal["T1", "T2", "STIR", "PD"]
Plane = Literal["sagittal", "axial", "coronal"]
ConservativeCare = Literal[
    "physiotherapy",
    "nsaids",
    "analgesics",
    "opioids",
    "epidural_injection",
    "facet_injection",
    "activity_modification",
    "bracing",
    "chiropractic",
    "weight_loss",
]


def _check_segment(value: str) -> str:
    try:
        parse_segment(value)
    except LevelError as err:  # a ValueError, so that the message names the field and file
        raise ValueError(str(err)) from None
    return value.upper()


def _check_path(value: Any) -> Any:
    if isinstance(value, str | Path) and len(str(value)) > MAX_PATH_CHARS:
        raise ValueError(f"a path has at most {MAX_PATH_CHARS} characters")
    return value


class PriorSurgery(UserRecord):
    """An earlier lumbar operation."""

    procedure: Literal["discectomy", "laminectomy", "fusion", "other"]
    segments: list[str] = Field(default_factory=list, max_length=24, description="e.g. ['L4-L5']")
    years_ago: float | None = Field(default=None, ge=0)

    _seg = field_validator("segments")(lambda v: [_check_segment(s) for s in v])


class Patient(UserRecord):
    """Demographics and comorbidities."""

    age_years: float = Field(ge=18, le=110, description="adults only")
    sex: Sex
    height_cm: float = Field(ge=120, le=230)
    weight_kg: float = Field(ge=30, le=300)
    smoking: Smoking = "never"
    diabetes: Diabetes = "none"
    osteoporosis: bool = False
    t_score: float | None = Field(default=None, ge=-6, le=4, description="DXA T-score")
    asa_class: int = Field(default=2, ge=1, le=5)
    depression: bool = False
    preop_opioid_use: bool = False
    workers_compensation: bool = False
    nsaids_after_surgery: bool = False
    prior_lumbar_surgery: list[PriorSurgery] = Field(default_factory=list, max_length=32)

    @property
    def bmi(self) -> float:
        """Body-mass index in kg/m²."""
        return self.weight_kg / (self.height_cm / 100.0) ** 2

    @model_validator(mode="after")
    def _plausible_bmi(self) -> Patient:
        # the range the outcome models are calibrated on; outside it height or weight is wrong
        if not 10.0 <= self.bmi <= 80.0:
            raise ValueError(
                f"BMI {self.bmi:.1f} kg/m² from height_cm {self.height_cm:g} and weight_kg "
                f"{self.weight_kg:g} is outside 10-80 kg/m²: check the height and the weight"
            )
        return self

    @model_validator(mode="after")
    def _osteoporosis_consistent(self) -> Patient:
        if self.t_score is not None and self.t_score <= -2.5 and not self.osteoporosis:
            raise ValueError(
                f"t_score {self.t_score} is in the osteoporotic range (≤ -2.5, WHO) but "
                "osteoporosis is false: set osteoporosis: true or correct the T-score"
            )
        return self


class Radiculopathy(UserRecord):
    """Leg pain in a root's distribution."""

    side: Side3
    root: str = Field(description="nerve root, e.g. 'L5'")

    @field_validator("root")
    @classmethod
    def _root(cls, v: str) -> str:
        if v.upper() not in VERTEBRAE:
            raise ValueError(
                f"root {quoted(v)} is not a spinal nerve root name such as 'L5' or 'S1'"
            )
        return v.upper()


class NeurologicalDeficit(UserRecord):
    """An objective deficit on examination."""

    kind: Literal["motor", "sensory", "reflex"]
    root: str | None = None
    mrc_grade: int | None = Field(default=None, ge=0, le=5, description="motor power, MRC 0–5")
    progressive: bool = False


class Examination(UserRecord):
    """The neurological examination of the legs, as recorded at the visit.

    ``motor``: MRC grade (0–5) per side and lumbar myotome (L2 hip flexion, L3 knee extension,
    L4 ankle dorsiflexion, L5 great-toe extension, S1 plantar flexion; a myotome not listed was
    not recorded). ``sensory_loss``: the dermatomes with reduced or lost sensation, per side.
    ``reflexes``: patellar (L4) and Achilles (S1) per side. ``straight_leg_raise`` and
    ``femoral_stretch``: the tension signs per side. ``side``: the side of the leg symptoms.
    ``red_flags``: signs that call for urgent work-up."""

    side: Side3 | None = None
    motor: dict[Side2, dict[MyotomeRoot, Mrc]] = Field(default_factory=dict)
    sensory_loss: dict[Side2, list[DermatomeRoot]] = Field(default_factory=dict)
    reflexes: dict[Reflex, dict[Side2, ReflexGrade]] = Field(default_factory=dict)
    straight_leg_raise: dict[Side2, TensionSign] = Field(default_factory=dict)
    femoral_stretch: dict[Side2, TensionSign] = Field(default_factory=dict)
    red_flags: list[RedFlag] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Examination:
        for side, roots in self.sensory_loss.items():
            if len(set(roots)) != len(roots):
                raise ValueError(f"sensory_loss.{side} lists a dermatome twice: {roots}")
        return self


class ClinicalHistory(UserRecord):
    """Symptoms, their duration, and the conservative care tried."""

    back_pain: bool = True
    back_pain_nrs: Nrs = 0
    leg_pain: bool = False
    leg_pain_nrs: Nrs = 0
    radiculopathy: Radiculopathy | None = None
    neurogenic_claudication: bool = False
    claudication_distance_m: float | None = Field(default=None, ge=0)
    neurological_deficit: NeurologicalDeficit | None = None
    cauda_equina_signs: bool = False
    symptom_duration_months: float = Field(default=0, ge=0, le=600)
    conservative_care: list[ConservativeCare] = Field(default_factory=list, max_length=32)
    conservative_care_months: float = Field(default=0, ge=0, le=600)
    odi: float | None = Field(
        default=None, ge=0, le=100, description="Oswestry Disability Index, %"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ClinicalHistory:
        if self.conservative_care_months > 0 and not self.conservative_care:
            raise ValueError(
                "conservative_care_months is set but conservative_care lists nothing: name what "
                "was tried (physiotherapy, nsaids, epidural_injection, …)"
            )
        if self.conservative_care_months > self.symptom_duration_months > 0:
            raise ValueError(
                f"conservative_care_months ({self.conservative_care_months}) exceeds "
                f"symptom_duration_months ({self.symptom_duration_months})"
            )
        return self


class ImagingSeries(UserRecord):
    """One series of an MR study: a DICOM series folder or a NIfTI file, with its weighting and
    plane when the file does not say them (a NIfTI has no DICOM tags; the plane is read from the
    orientation when not given)."""

    dicom_dir: Path | None = None
    nifti: Path | None = None
    weighting: MrWeighting | None = None
    plane: Plane | None = None
    description: str = Field(default="", max_length=256)
    echo_time_ms: float | None = Field(default=None, gt=0, le=1000)
    repetition_time_ms: float | None = Field(default=None, gt=0, le=20000)

    _path = field_validator("dicom_dir", "nifti", mode="before")(_check_path)

    @model_validator(mode="after")
    def _source(self) -> ImagingSeries:
        if (self.dicom_dir is None) == (self.nifti is None):
            raise ValueError("a series needs exactly one of dicom_dir or nifti")
        return self


LabelConvention = Literal[
    "totalseg_v2",
    "verse",
    "custom",
    "totalseg_mr",
    "totalseg_vertebrae_mr",
    "spineps",
    "totalspineseg",
]


class ImagingStudy(UserRecord):
    """One imaging study: a CT/MR volume (DICOM folder or NIfTI) or an X-ray landmark set.

    An MR study may instead list its ``series`` (sagittal and axial T1 and T2, each a DICOM
    folder or NIfTI), or name a ``dicom_dir`` holding one folder per series, chosen by their
    DICOM tags. Its ``label_map`` lies on the grid of one of them."""

    modality: Literal["CT", "MR", "XR"]
    role: Literal["preop", "flexion", "extension", "postop"] = "preop"
    dicom_dir: Path | None = None
    nifti: Path | None = None
    series: list[ImagingSeries] = Field(default_factory=list)
    label_map: Path | None = None
    label_convention: LabelConvention = "totalseg_v2"
    label_mapping: dict[int, str] | None = Field(
        default=None,
        max_length=256,
        description="label ID -> vertebra name, for label_convention 'custom'",
    )
    subregion_map: Path | None = Field(
        default=None, description="SPINEPS's subregion mask (canal, cord) of the same run"
    )
    weighting: MrWeighting | None = Field(
        default=None, description="an MR volume's weighting when its file does not say it"
    )
    landmarks: Path | None = Field(default=None, description="X-ray landmark CSV")
    orientation_confirmed: bool = Field(
        default=False,
        description="for a NIfTI with neither sform nor qform: the user confirms its voxel axes "
        "run to the patient's right, anterior and superior (else it is refused: left and right "
        "could be swapped)",
    )

    _path = field_validator(
        "dicom_dir", "nifti", "label_map", "subregion_map", "landmarks", mode="before"
    )(_check_path)

    @model_validator(mode="after")
    def _sources(self) -> ImagingStudy:
        if self.series and self.modality != "MR":
            raise ValueError("only an MR study lists series; a CT study has one volume")
        if self.series and (self.dicom_dir is not None or self.nifti is not None):
            raise ValueError(
                "an MR study lists its series, or names one dicom_dir or nifti, not both"
            )
        if (self.weighting is not None) and (self.modality != "MR" or self.series):
            raise ValueError(
                "weighting belongs to an MR study's single volume (give each series its own)"
            )
        if self.subregion_map is not None and self.label_convention != "spineps":
            raise ValueError("subregion_map is SPINEPS's second mask: set label_convention spineps")
        if self.modality in ("CT", "MR") and not self.series:
            if (self.dicom_dir is None) == (self.nifti is None):
                raise ValueError(f"a {self.modality} study needs exactly one of dicom_dir or nifti")
        elif self.modality == "XR" and self.landmarks is None:
            raise ValueError("an XR study needs a landmarks file (CSV, see the README)")
        if self.label_convention == "custom" and not self.label_mapping:
            raise ValueError("label_convention 'custom' needs a label_mapping {id: vertebra}")
        for name in (self.label_mapping or {}).values():
            if name not in VERTEBRAE:
                raise ValueError(f"label_mapping names unknown vertebra {quoted(name)}")
        return self

    def paths(self) -> dict[str, Path]:
        """The file fields that are set, by field name (``series.1.nifti`` for a series')."""
        fields = ("dicom_dir", "nifti", "label_map", "subregion_map", "landmarks")
        out = {f: p for f in fields if (p := getattr(self, f)) is not None}
        for i, s in enumerate(self.series):
            for f in ("dicom_dir", "nifti"):
                if (p := getattr(s, f)) is not None:
                    out[f"series.{i}.{f}"] = p
        return out


class Preferences(UserRecord):
    """The surgeon's and patient's choices; any left unset are decided by the planner."""

    approach: Literal["open", "mis"] | None = None
    technique: Literal["PLF", "TLIF", "PLIF", "ALIF", "LLIF"] | None = None
    graft: (
        Literal["local_autograft", "iliac_crest_autograft", "allograft", "dbm", "ceramic", "rhbmp2"]
        | None
    ) = None
    rod_material: Literal["titanium", "cobalt_chrome"] | None = None
    rod_diameter_mm: float | None = Field(default=None, gt=0, description="5.5 or 6.0")
    fuse_segments: list[str] | None = Field(
        default=None, max_length=24, description="override of the levels to fuse, e.g. ['L4-L5']"
    )
    site: str = Field(
        default="default", max_length=64, description="site profile for length of stay"
    )

    _seg = field_validator("fuse_segments")(
        lambda v: None if v is None else [_check_segment(s) for s in v]
    )


SegmentationBackendName = Literal["labels", "builtin", "totalsegmentator"]


class Segmentation(UserRecord):
    """Where the vertebra labels of the CT/MR come from.

    ``backend``: ``labels`` (the study's ``label_map`` file), ``builtin`` (spinefuse's own CT
    segmentation, no trained weights) or ``totalsegmentator`` (the optional extra). Unset, the
    label map is used when the study has one, else the built-in back-end. ``options`` are the
    back-end's own (see the README); a back-end refuses options it does not know."""

    backend: SegmentationBackendName | None = None
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    check_naming: bool = Field(
        default=True,
        description="check a label map file's names against the anatomy in view of its CT "
        "(sacrum, iliac crests, lowest rib) before anything is measured; about 3 s",
    )


class AnatomyOptions(UserRecord):
    """How the anatomy is measured. ``body_heights``: ``edges`` (the fitted endplates at the
    body's anterior and posterior edges, as on a lateral radiograph; exact on phantoms) or
    ``report`` (TotalSegmentator's spine-report method, at 15/50/85 % of the depth)."""

    body_heights: Literal["edges", "report"] = "edges"


class Case(UserRecord):
    """A patient's case: the input of the whole pipeline."""

    schema_: Literal["spinefuse/case@1"] = Field(default="spinefuse/case@1", alias="schema")
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    patient: Patient
    history: ClinicalHistory
    examination: Examination | None = None
    imaging: list[ImagingStudy] = Field(default_factory=list, max_length=64)
    segmentation: Segmentation = Field(default_factory=Segmentation)
    anatomy: AnatomyOptions = Field(default_factory=AnatomyOptions)
    preferences: Preferences = Field(default_factory=Preferences)
    notes: str = Field(default="", max_length=MAX_NOTES_CHARS)

    model_config = UserRecord.model_config | {"populate_by_name": True, "serialize_by_alias": True}

    def study(self, modality: str, role: str = "preop") -> ImagingStudy | None:
        """The first study of this modality and role, or None."""
        return next((s for s in self.imaging if s.modality == modality and s.role == role), None)


def case_from_dict(
    data: Any, source: str = "case", base_dir: Path | None = None, check_files: bool = True
) -> Case:
    """Validate a mapping as a :class:`Case`; relative paths are taken from ``base_dir``."""
    if not isinstance(data, dict):
        raise CaseError(f"{source}: a case must be a mapping of fields, got {type(data).__name__}")
    schema = data.get("schema")
    if schema != CASE_SCHEMA:
        raise CaseError(
            f"{source}: schema = {quoted(schema)}: this spinefuse reads {CASE_SCHEMA!r}; "
            "add 'schema: spinefuse/case@1' at the top of the file"
        )
    try:
        case = Case.model_validate(data)
    except ValidationError as err:
        raise CaseError(describe_validation_error(err, source, "case")) from None
    if base_dir is not None:
        case = _resolve_paths(case, base_dir, source)
    if check_files:
        for i, study in enumerate(case.imaging):
            for field, path in study.paths().items():
                try:
                    exists = path.exists()
                except OSError as err:
                    raise CaseError(
                        f"{source}: imaging.{i}.{field} = '{path}': cannot be opened "
                        f"({err.strerror or err}); check the path and its permissions"
                    ) from None
                if not exists:
                    raise CaseError(
                        f"{source}: imaging.{i}.{field} = '{path}': no such file or folder; "
                        "paths are relative to the case file's folder"
                    )
    return case


def _resolve_paths(case: Case, base: Path, source: str = "case") -> Case:
    def fix(p: Path, where: str) -> Path:
        try:
            return p if p.is_absolute() else (base / p).resolve()
        except (RuntimeError, OSError):  # RuntimeError: Python 3.11's "Symlink loop"
            raise CaseError(
                f"{source}: {where} = '{p}': a symbolic link loop (the link points back at "
                "itself); give the real file"
            ) from None

    studies = []
    for i, s in enumerate(case.imaging):
        fixed: dict[str, Any] = {
            f: fix(p, f"imaging.{i}.{f}") for f, p in s.paths().items() if "." not in f
        }
        fixed["series"] = [
            r.model_copy(
                update={
                    f: fix(p, f"imaging.{i}.series.{k}.{f}")
                    for f in ("dicom_dir", "nifti")
                    if (p := getattr(r, f))
                }
            )
            for k, r in enumerate(s.series)
        ]
        studies.append(s.model_copy(update=fixed))
    return case.model_copy(update={"imaging": studies})


def load_case(path: str | Path, check_files: bool = True) -> Case:
    """Read and validate a case file (YAML or JSON)."""
    path = Path(path)
    data = read_yaml_file(path, "case file", CaseError)
    return case_from_dict(data, str(path), base_dir=path.parent.resolve(), check_files=check_files)


def save_case(case: Case, path: str | Path, relative_to: Path | None = None) -> Path:
    """Write a case as YAML; image paths are written relative to ``relative_to`` when given."""
    data = case.model_dump(mode="json", by_alias=True, exclude_defaults=False)
    if relative_to is not None:
        entries = [e for study in data["imaging"] for e in (study, *study.get("series", []))]
        for entry in entries:
            for key in ("dicom_dir", "nifti", "label_map", "subregion_map", "landmarks"):
                if entry.get(key):
                    p = Path(entry[key])
                    if p.is_absolute() and p.is_relative_to(relative_to):
                        entry[key] = str(p.relative_to(relative_to))
    return write_atomic(Path(path), yaml.safe_dump(data, sort_keys=False))
