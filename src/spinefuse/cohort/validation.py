"""The healing and outcome models against the published figures they are calibrated to and
compared with, and the table of it all (``docs/outcomes_validation.md``).

Three kinds of rows: the healing stage's targets (``healing_parameters.yaml``, scenarios on the
template spine, :func:`~spinefuse.healing.validation.healing_results`); the outcome models'
targets on single patients (``outcome_parameters.yaml``, ``scenario_*`` kinds); and figures a
synthetic cohort must reproduce (``cohort_*`` kinds): 10,000 virtual patients with every
covariate drawn from ``cohort_population.yaml`` (age, sex, BMI, smoking, diabetes and ASA with
their correlations, diagnosis, stenosis, revision, 1-4 levels, baseline scores), the technique,
approach and graft drawn from the outcome models' reference mix, healed by ``heal_batch`` on the
template spine's mechanics and forecast by ``forecast_batch`` with that non-union.

``python -m spinefuse.cohort.validation docs/outcomes_validation.md`` rewrites the table;
tests/cohort/test_validation.py regenerates it and compares.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spinefuse.cohort.population import sample_population
from spinefuse.cohort.spec import Population, default_population
from spinefuse.errors import ParameterError
from spinefuse.records import write_atomic

COHORT_SIZE = 10_000
COHORT_SEED = 2026
COHORT_MEMBERS = 4
"""Healing members per virtual patient in the synthetic cohort: each patient's probabilities
are coarse, but a rate or effect averages 40,000 members (the Monte Carlo error of a 7 % rate
is about 0.001)."""
HEALING_MEMBERS = 1024
"""Members per healing scenario (paired: one patient's members for every scenario)."""
SCENARIO_PATIENTS = 400
SCENARIO_MEMBERS = 8
"""A population-average scenario (a trial arm) heals the synthetic population's first 400
patients with the scenario's choices forced, 8 members each (paired across scenarios)."""
LOCAL_SHARE_WITH_ALLOGRAFT = 0.5
"""Share of an allograft, DBM or ceramic bed filled with the decompression's local bone in the
synthetic cohort (the planner computes it from the decompression for real patients)."""

REFERENCE_ROW: dict[str, object] = {
    "age_years": 60.0,
    "sex": "female",
    "bmi": 28.0,
    "smoking": "never",
    "diabetes": "none",
    "depression": False,
    "preop_opioid_use": False,
    "workers_compensation": False,
    "baseline_odi": 48.0,
    "asa_class": 2,
    "technique": "TLIF",
    "approach": "open",
    "graft": "local_autograft",
    "levels": 1,
    "nonunion_probability": 0.07,
    "revision": False,
    "stenosis": True,
    "diagnosis": "degenerative_spondylolisthesis",
    "back_pain_nrs": 6.5,
    "leg_pain_nrs": 6.0,
    "eras": False,
    "site": "us",
}
"""The outcome scenarios' reference patient: 60-year-old woman, BMI 28, ASA 2, never smoked, no
diabetes, ODI 48, open 1-level TLIF with local bone for degenerative spondylolisthesis."""


@dataclass(frozen=True)
class Row:
    """One line of the validation table."""

    model: str
    id: str
    quantity: str
    role: str
    published: float
    low: float
    high: float
    model_value: float
    source: str
    certainty: str

    @property
    def passed(self) -> bool:
        return bool(self.low <= self.model_value <= self.high)


def _choice(rng: np.random.Generator, mix: Mapping[str, Any], n: int) -> np.ndarray:
    keys = [k for k in mix if k not in ("unit", "source", "certainty")]
    p = np.array([float(mix[k]) for k in keys])
    return np.asarray(keys)[rng.choice(len(keys), n, p=p / p.sum())]


@lru_cache(maxsize=2)
def synthetic_cohort(
    n: int = COHORT_SIZE, seed: int = COHORT_SEED, members: int = COHORT_MEMBERS
) -> pd.DataFrame:
    """``n`` virtual patients from the default population, healed and forecast (one row each:
    the covariates, the surgical choices, heal_batch's and forecast_batch's columns)."""
    from spinefuse.healing import heal_batch, load_parameters
    from spinefuse.healing.validation import _stack, template_responses
    from spinefuse.outcomes import forecast_batch
    from spinefuse.outcomes.parameters import outcome_parameters

    pop = Population.model_validate(default_population())
    people = sample_population(pop, n, seed)
    mix = outcome_parameters()["reference_population"]
    rng = np.random.default_rng(seed + 1)
    technique = _choice(rng, mix["technique"], n)
    approach = _choice(rng, mix["approach"], n)
    approach = np.where(np.isin(technique, ("ALIF", "LLIF")), "mis", approach)
    graft = _choice(rng, mix["graft"], n)
    share = np.where(
        graft == "local_autograft",
        1.0,
        np.where(np.isin(graft, ("allograft", "dbm", "ceramic")), LOCAL_SHARE_WITH_ALLOGRAFT, 0.0),
    )
    biology = pd.DataFrame(
        {
            "case_id": [f"virtual-{i}" for i in people["patient"]],
            "age_years": people["age_years"],
            "smoking": people["smoking"],
            "diabetes": people["diabetes"],
            "trabecular_hu": people["trabecular_hu"],
            "nsaids": False,
            "graft": graft,
            "technique": technique,
            "levels": people["levels"],
            "local_bone_share": share,
        }
    )
    responses = template_responses()
    healed = heal_batch(
        biology,
        _stack([responses[str(t)] for t in technique]),
        seed=seed,
        members=members,
        params=load_parameters(),
    )
    table = people.assign(
        technique=technique,
        approach=approach,
        graft=graft,
        interbody=technique != "PLF",
        nonunion_probability=healed["nonunion_probability"].to_numpy(),
        eras=False,
        site="us",
    )
    outcomes = forecast_batch(table.drop(columns=["patient"]))
    return pd.concat(
        [table, healed.drop(columns=["nonunion_probability"]), outcomes.drop(columns=["nonunion"])],
        axis=1,
    )


def _population_biology(n: int) -> pd.DataFrame:
    pop = Population.model_validate(default_population())
    people = sample_population(pop, n, COHORT_SEED)
    return pd.DataFrame(
        {
            "case_id": [f"virtual-{i}" for i in people["patient"]],
            "age_years": people["age_years"].to_numpy(),
            "smoking": people["smoking"].to_numpy(),
            "diabetes": people["diabetes"].to_numpy(),
            "trabecular_hu": people["trabecular_hu"].to_numpy(),
            "nsaids": False,
            "graft": "local_autograft",
            "technique": "TLIF",
            "levels": people["levels"].to_numpy(),
        }
    )


def population_scenarios(
    scenarios: Sequence[Mapping[str, object]],
    n: int = SCENARIO_PATIENTS,
    members: int = SCENARIO_MEMBERS,
) -> pd.DataFrame:
    """Each scenario's choices forced on the synthetic population's first ``n`` patients,
    healed by heal_batch; one row per scenario with the mean of every result column."""
    from spinefuse.healing import heal_batch, load_parameters
    from spinefuse.healing.validation import _stack, template_responses

    base = _population_biology(n)
    frames = []
    for s in scenarios:
        b = base.copy()
        for key, value in s.items():
            b[key] = value
        frames.append(b)
    biology = pd.concat(frames, ignore_index=True)
    responses = template_responses()
    healed = heal_batch(
        biology,
        _stack([responses[str(t)] for t in biology["technique"]]),
        seed=COHORT_SEED,
        members=members,
        params=load_parameters(),
    )
    group = np.repeat(np.arange(len(scenarios)), n)
    return healed.groupby(group).mean().reset_index(drop=True)


def _rows(frame: pd.DataFrame, where: Mapping[str, Any] | None) -> pd.DataFrame:
    if not where:
        return frame
    keep = np.ones(len(frame), dtype=bool)
    for col, want in where.items():
        values = want if isinstance(want, list) else [want]
        keep &= frame[col].isin(values).to_numpy()
    if not keep.any():
        raise ParameterError(f"no synthetic patient matches {dict(where)}")
    return frame[keep]


def _odds(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return p / (1.0 - p)


def _scenario(changes: Mapping[str, Any]) -> pd.Series:
    from spinefuse.outcomes import forecast_batch

    row = pd.DataFrame([{**REFERENCE_ROW, **dict(changes)}])
    out: pd.Series = forecast_batch(row).iloc[0]
    return out


def outcome_value(target: Mapping[str, Any], cohort: pd.DataFrame) -> float:
    """The model's value for one outcome target (see the data file's ``targets``)."""
    kind, col = target["kind"], target["column"]
    if kind == "cohort_mean":
        return float(_rows(cohort, target.get("where"))[col].mean())
    if kind == "cohort_change":
        sub = _rows(cohort, target.get("where"))
        return float((sub[col] - sub[target["baseline"]]).mean())
    if kind == "cohort_gain":
        sub = _rows(cohort, target.get("where"))
        return float((sub[col] - sub[target["earlier"]]).mean())
    if kind in ("cohort_ratio", "cohort_odds_ratio"):
        a = float(_rows(cohort, target["where"])[col].mean())
        b = float(_rows(cohort, target["reference"])[col].mean())
        return a / b if kind == "cohort_ratio" else _odds(a) / _odds(b)
    if kind.startswith("scenario_"):
        a = float(_scenario(target.get("scenario") or {})[col])
        b = float(_scenario(target.get("reference") or {})[col])
        if kind == "scenario_ratio":
            return a / b
        if kind == "scenario_odds_ratio":
            return _odds(a) / _odds(b)
        if kind == "scenario_difference":
            return a - b
    raise ParameterError(f"outcome_parameters.yaml: target {target['id']}: unknown kind {kind!r}")


def outcome_results(cohort: pd.DataFrame | None = None) -> list[Row]:
    """The healing stage's population-average targets and every outcome target of the data
    files, with the model's value beside each."""
    from spinefuse.healing.validation import healing_targets
    from spinefuse.outcomes.parameters import outcome_parameters

    cohort = synthetic_cohort() if cohort is None else cohort
    out = []
    tagged = [("healing (cohort)", t) for t in healing_targets("cohort")] + [
        ("outcomes (cohort)" if t["kind"].startswith("cohort") else "outcomes", t)
        for t in outcome_parameters()["targets"]
    ]
    for model, t in tagged:
        low, high = (float(x) for x in t["interval"])
        out.append(
            Row(
                model=model,
                id=str(t["id"]),
                quantity=str(t["quantity"]),
                role=str(t["role"]),
                published=float(t["value"]),
                low=low,
                high=high,
                model_value=round(outcome_value(t, cohort), 4),
                source=str(t["source"]),
                certainty=str(t["certainty"]),
            )
        )
    return out


def validation_rows() -> list[Row]:
    """The healing rows, then the outcome rows."""
    from spinefuse.healing.validation import healing_results

    rows = [
        Row(
            model="healing",
            id=r.id,
            quantity=r.quantity,
            role=r.role,
            published=r.published,
            low=r.low,
            high=r.high,
            model_value=r.model_value,
            source=r.source,
            certainty=r.certainty,
        )
        for r in healing_results(members=HEALING_MEMBERS)
    ]
    trials = [
        Row(
            model=r.model,
            id=r.id,
            quantity=r.quantity,
            role=r.role,
            published=r.published,
            low=r.low,
            high=r.high,
            model_value=r.model_value,
            source=r.source,
            certainty=r.certainty,
        )
        for r in healing_results(
            population="cohort_scenario", runner=population_scenarios, model="healing (cohort)"
        )
    ]
    cohort_rows = outcome_results()
    healing_cohort = [r for r in cohort_rows if r.model == "healing (cohort)"]
    outcome_rows = [r for r in cohort_rows if r.model != "healing (cohort)"]
    return healing_cohort + trials + rows + outcome_rows


def _num(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"


def validation_markdown(rows: Sequence[Row]) -> str:
    """The validation table as Markdown (deterministic for the same rows)."""
    failing = [r for r in rows if not r.passed]
    fitted = [r for r in rows if r.role == "calibration"]
    compared = [r for r in rows if r.role == "comparison"]
    lines = [
        "# Validation of the healing and outcome models",
        "",
        "Generated by `python -m spinefuse.cohort.validation docs/outcomes_validation.md`; "
        "`tests/cohort/test_validation.py` regenerates it and fails when it differs. Do not "
        "edit by hand.",
        "",
        "Each row is a published figure with its interval and the model's value for the same "
        "quantity. The rule of every row is *the model lies within the interval*. "
        "**calibration** rows were used to fit the parameters (their source is in the data "
        "file); **comparison** rows are independent figures no parameter was fitted to.",
        "",
        "* Healing rows: the average virtual patient's L4-L5 planned by the planner and solved "
        "by the mechanics on the healing grid. Fusion means bridging bone on CT across at "
        "least half of a grafted region and flexion-extension stability "
        "(HealingCourse.fusion_criterion). Rows marked *(cohort)* are population averages, as "
        "pooled and trial rates are: a subgroup of the synthetic cohort below, or a trial "
        f"arm's choices forced on the synthetic population's first {SCENARIO_PATIENTS} "
        f"patients ({SCENARIO_MEMBERS} members each); the other healing rows are one "
        f"reference patient (60 years, never smoked, no diabetes, one level, {HEALING_MEMBERS} "
        "members) whose risk factors are changed one at a time, all paired.",
        "* Outcome rows marked *(cohort)*: a synthetic cohort of "
        f"{COHORT_SIZE:,} patients, every covariate drawn from `cohort_population.yaml` with its "
        "correlations, the technique, approach and graft from the reference mix of "
        "`outcome_parameters.yaml`, healed by `heal_batch` (template spine, "
        f"{COHORT_MEMBERS} members each) and forecast by `forecast_batch` with that non-union.",
        "* Other outcome rows: single patients (a 60-year-old woman, open one-level TLIF for "
        "degenerative spondylolisthesis) with the named change.",
        "",
        f"{len(rows)} rows: {sum(r.passed for r in fitted)} of {len(fitted)} calibration rows "
        f"and {sum(r.passed for r in compared)} of {len(compared)} comparison rows pass.",
        "",
    ]
    if failing:
        lines += ["## Rows outside their interval", ""]
        lines += [
            f"* `{r.id}` ({r.role}): model {_num(r.model_value)}, published {_num(r.published)} "
            f"[{_num(r.low)}, {_num(r.high)}]"
            for r in failing
        ]
        lines.append("")
    lines += [
        "## Table",
        "",
        "| model | id | quantity | role | published [interval] | model | pass | source "
        "(certainty) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        src = r.source.replace("|", "/")
        lines.append(
            f"| {r.model} | `{r.id}` | {r.quantity} | {r.role} | {_num(r.published)} "
            f"[{_num(r.low)}, {_num(r.high)}] | {_num(r.model_value)} | "
            f"{'yes' if r.passed else '**no**'} | {src} ({r.certainty}) |"
        )
    return "\n".join(lines) + "\n"


def write_validation_doc(path: str | Path) -> Path:
    """Write the validation table to ``path`` (atomically)."""
    return write_atomic(Path(path), validation_markdown(validation_rows()))


if __name__ == "__main__":  # pragma: no cover - the command line entry
    target = sys.argv[1] if len(sys.argv) > 1 else "docs/outcomes_validation.md"
    print(write_validation_doc(target))
