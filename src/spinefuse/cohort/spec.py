"""The cohort spec: who the virtual patients are, which arms to compare, how many, which seed.

A spec is YAML with a versioned schema (``schema: spinefuse/cohort@1``). Every population field
defaults to the published population in ``data/cohort_population.yaml``; a spec overrides only
what it names. Each virtual patient goes through every arm (a paired design), so differences
between arms are not blurred by differences between patients.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from spinefuse.datafiles import UserRecord, load_yaml, read_yaml_file
from spinefuse.errors import CaseError, quoted
from spinefuse.records import describe_validation_error

COHORT_SCHEMA = "spinefuse/cohort@1"
MAX_BATCHES = 1_000_000
"""Most batches (tasks) one trial may cut into; each becomes a file of the output folder."""


class Normal(UserRecord):
    """A normal distribution truncated to [min, max] (by clipping)."""

    mean: float
    sd: float = Field(ge=0)
    min: float
    max: float

    @model_validator(mode="after")
    def _bounds(self) -> Normal:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if not self.min <= self.mean <= self.max:
            raise ValueError(f"mean {self.mean} must lie within [min {self.min}, max {self.max}]")
        return self


def _mean_sd(value: tuple[float, float]) -> tuple[float, float]:
    if value[1] < 0:
        raise ValueError("the sd must be ≥ 0")
    return value


class Height(UserRecord):
    female: tuple[float, float] = Field(description="mean, sd (cm)")
    male: tuple[float, float]
    min: float
    max: float

    _sd = field_validator("female", "male")(_mean_sd)

    @model_validator(mode="after")
    def _bounds(self) -> Height:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Pelvic(UserRecord):
    pelvic_incidence_deg: tuple[float, float] = Field(description="mean, sd")
    lumbar_lordosis_deg: tuple[float, float]
    correlation: float = Field(ge=-1, le=1)

    _sd = field_validator("pelvic_incidence_deg", "lumbar_lordosis_deg")(_mean_sd)


Diagnosis = Literal[
    "degenerative_spondylolisthesis",
    "isthmic_spondylolisthesis",
    "stenosis",
    "discogenic",
    "deformity",
]


class Asa(UserRecord):
    """ASA physical status: the population's mix of classes 1-4 and the proportional odds of a
    higher class per decade of age, with diabetes and per 5 kg/m² of BMI."""

    p1: float = Field(ge=0, le=1)
    p2: float = Field(ge=0, le=1)
    p3: float = Field(ge=0, le=1)
    p4: float = Field(ge=0, le=1)
    odds_ratio_per_decade: float = Field(gt=0)
    odds_ratio_diabetes: float = Field(gt=0)
    odds_ratio_per_5_bmi: float = Field(gt=0)

    @model_validator(mode="after")
    def _sum(self) -> Asa:
        total = self.p1 + self.p2 + self.p3 + self.p4
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"ASA shares p1-p4 must sum to 1, got {total:g}")
        return self


class Diabetes(UserRecord):
    """Diabetes prevalence at the population's mean age and BMI, its rise with each, and the
    share treated with insulin."""

    prevalence: float = Field(ge=0, le=1)
    insulin_share: float = Field(ge=0, le=1)
    odds_ratio_per_decade: float = Field(gt=0)
    odds_ratio_per_5_bmi: float = Field(gt=0)


class Levels(UserRecord):
    """Shares of patients fusing 1, 2, 3 and 4 segments (when an arm does not fix them)."""

    l1: float = Field(ge=0, le=1)
    l2: float = Field(ge=0, le=1)
    l3: float = Field(ge=0, le=1)
    l4: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _sum(self) -> Levels:
        total = self.l1 + self.l2 + self.l3 + self.l4
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"level shares l1-l4 must sum to 1, got {total:g}")
        return self


class Population(UserRecord):
    """Distributions of the virtual patients' characteristics, with their correlations."""

    age_years: Normal
    female_fraction: float = Field(ge=0, le=1)
    height_cm: Height
    bmi: Normal
    pelvic: Pelvic
    trabecular_hu: Normal
    trabecular_hu_per_decade: float = Field(
        default=0.0, description="change of mean trabecular HU per decade of age"
    )
    smoking_current: float = Field(ge=0, le=1)
    smoking_former: float = Field(default=0.0, ge=0, le=1)
    diabetes: Diabetes
    asa: Asa
    depression: float = Field(ge=0, le=1)
    preop_opioid_use: float = Field(ge=0, le=1)
    workers_compensation: float = Field(ge=0, le=1)
    revision: float = Field(ge=0, le=1, description="share with prior lumbar surgery")
    levels: Levels
    diagnosis_mix: dict[Diagnosis, float] = Field(
        description="share of each diagnosis the fusion treats (sums to 1)"
    )
    slip_percent: Normal
    baseline_odi: Normal
    back_pain_nrs: Normal
    leg_pain_nrs: Normal

    @model_validator(mode="after")
    def _shares(self) -> Population:
        if self.smoking_current + self.smoking_former > 1.0 + 1e-9:
            raise ValueError(
                f"smoking_current ({self.smoking_current}) + smoking_former "
                f"({self.smoking_former}) exceed 1"
            )
        total = sum(self.diagnosis_mix.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"diagnosis_mix shares must sum to 1, got {total:g}")
        return self


class Arm(UserRecord):
    """One strategy. Unset choices are left to the planner, as for a real patient."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.+-]{1,40}$")
    technique: Literal["PLF", "TLIF", "PLIF", "ALIF", "LLIF"] | None = None
    approach: Literal["open", "mis"] | None = None
    graft: (
        Literal["local_autograft", "iliac_crest_autograft", "allograft", "dbm", "ceramic", "rhbmp2"]
        | None
    ) = None
    rod_material: Literal["titanium", "cobalt_chrome"] | None = None
    rod_diameter_mm: float | None = Field(default=None, gt=0)
    levels: Literal[1, 2, 3, 4] | None = Field(
        default=None, description="fused segments (None: each patient's drawn number)"
    )
    smoking: Literal["never", "current"] | None = Field(
        default=None, description="force the smoking status (for smoker/non-smoker arms)"
    )


class CohortSpec(UserRecord):
    """A virtual trial."""

    schema_: Literal["spinefuse/cohort@1"] = Field(default="spinefuse/cohort@1", alias="schema")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    size: int = Field(
        ge=1, le=10_000_000, description="virtual patients (each goes through every arm)"
    )
    seed: int = Field(ge=0)
    batch_size: int = Field(default=50, ge=1, le=10_000)
    population: Population
    arms: list[Arm] = Field(min_length=1)
    outputs: list[str] = Field(
        default_factory=lambda: ["mechanics", "healing", "forecast"],
        description="stages whose results to keep",
    )

    model_config = UserRecord.model_config | {"populate_by_name": True}

    @field_validator("arms")
    @classmethod
    def _unique(cls, arms: list[Arm]) -> list[Arm]:
        names = [a.name for a in arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique, got {names}")
        return arms

    @model_validator(mode="after")
    def _batch_count(self) -> CohortSpec:
        batches = -(-self.size // self.batch_size) * len(self.arms)
        if batches > MAX_BATCHES:
            raise ValueError(
                f"size {self.size} in batches of {self.batch_size} over {len(self.arms)} arms "
                f"makes {batches} batches (at most {MAX_BATCHES}); raise batch_size"
            )
        return self

    @field_validator("outputs")
    @classmethod
    def _outputs(cls, outputs: list[str]) -> list[str]:
        allowed = {"mechanics", "healing", "forecast"}
        bad = set(outputs) - allowed
        if bad:
            raise ValueError(f"unknown outputs {sorted(bad)}; allowed: {sorted(allowed)}")
        return outputs


@cache
def default_population() -> dict[str, Any]:
    """The published population (data/cohort_population.yaml) as a Population mapping."""
    d = load_yaml("cohort_population.yaml")

    def normal(key: str) -> dict[str, float]:
        return {k: d[key][k] for k in ("mean", "sd", "min", "max")}

    pel = d["pelvic_parameters"]
    return {
        "age_years": normal("age_years"),
        "female_fraction": d["female_fraction"]["value"],
        "height_cm": {
            "female": (d["height_cm"]["female"]["mean"], d["height_cm"]["female"]["sd"]),
            "male": (d["height_cm"]["male"]["mean"], d["height_cm"]["male"]["sd"]),
            "min": d["height_cm"]["min"],
            "max": d["height_cm"]["max"],
        },
        "bmi": normal("bmi"),
        "pelvic": {
            "pelvic_incidence_deg": (
                pel["pelvic_incidence_deg"]["mean"],
                pel["pelvic_incidence_deg"]["sd"],
            ),
            "lumbar_lordosis_deg": (
                pel["lumbar_lordosis_deg"]["mean"],
                pel["lumbar_lordosis_deg"]["sd"],
            ),
            "correlation": pel["correlation"],
        },
        "trabecular_hu": normal("trabecular_hu"),
        "trabecular_hu_per_decade": d["trabecular_hu"]["per_decade"],
        "smoking_current": d["smoking_current"]["value"],
        "smoking_former": d["smoking_former"]["value"],
        "diabetes": {
            "prevalence": d["diabetes"]["value"],
            "insulin_share": d["diabetes"]["insulin_share"],
            "odds_ratio_per_decade": d["diabetes"]["odds_ratio_per_decade"],
            "odds_ratio_per_5_bmi": d["diabetes"]["odds_ratio_per_5_bmi"],
        },
        "asa": {
            k: d["asa_class"][k]
            for k in (
                "p1",
                "p2",
                "p3",
                "p4",
                "odds_ratio_per_decade",
                "odds_ratio_diabetes",
                "odds_ratio_per_5_bmi",
            )
        },
        "depression": d["depression"]["value"],
        "preop_opioid_use": d["preop_opioid_use"]["value"],
        "workers_compensation": d["workers_compensation"]["value"],
        "revision": d["revision"]["value"],
        "levels": {k: d["levels"][k] for k in ("l1", "l2", "l3", "l4")},
        "diagnosis_mix": {
            k: v for k, v in d["diagnosis_mix"].items() if k not in ("unit", "source", "certainty")
        },
        "slip_percent": normal("slip_percent"),
        "baseline_odi": normal("baseline_odi"),
        "back_pain_nrs": normal("back_pain_nrs"),
        "leg_pain_nrs": normal("leg_pain_nrs"),
    }


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def cohort_from_dict(data: Any, source: str = "cohort spec") -> CohortSpec:
    """Validate a mapping as a :class:`CohortSpec`, filling the population from the defaults."""
    if not isinstance(data, dict):
        raise CaseError(f"{source}: a cohort spec must be a mapping, got {type(data).__name__}")
    if data.get("schema") != COHORT_SCHEMA:
        raise CaseError(
            f"{source}: schema = {quoted(data.get('schema'))}: this spinefuse reads "
            f"{COHORT_SCHEMA!r}"
        )
    pop = data.get("population") or {}
    if not isinstance(pop, dict):
        raise CaseError(f"{source}: population must be a mapping of overrides")
    data = {**data, "population": _merge(default_population(), pop)}
    try:
        return CohortSpec.model_validate(data)
    except ValidationError as err:
        raise CaseError(describe_validation_error(err, source, "cohort spec")) from None


def load_cohort_spec(path: str | Path) -> CohortSpec:
    """Read and validate a cohort spec file (YAML)."""
    return cohort_from_dict(read_yaml_file(path, "cohort spec", CaseError), str(path))
