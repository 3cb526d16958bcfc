"""Scoring the Oswestry Disability Index questionnaire (ODI v2.1a, LOINC 97908-8).

Ten sections, each answered 0-5. The score is the total over the maximum possible for the
sections answered, as a percentage; with one section missing the denominator is 45 instead of 50.
More missing sections than the data file allows make the questionnaire unscorable (an error, not
a guess).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from spinefuse.errors import ParameterError
from spinefuse.outcomes.parameters import outcome_parameters
from spinefuse.records import Record


class OdiScore(Record):
    """A scored ODI questionnaire."""

    score_percent: float = Field(ge=0, le=100, description="ODI, 0 (no disability) to 100")
    answered: int = Field(ge=0, le=10)
    missing_sections: list[str] = Field(default_factory=list)
    band: str = Field(description="interpretation band (Fairbank & Pynsent 2000)")
    loinc: str = "97908-8"


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = outcome_parameters()["odi_questionnaire"]
    return spec


def odi_sections() -> tuple[str, ...]:
    """The ten section names in questionnaire order."""
    return tuple(_spec()["sections"])


def score_odi(answers: Sequence[int | None] | Mapping[str, int | None]) -> OdiScore:
    """Score an ODI questionnaire.

    ``answers`` is ten item scores in section order (None for an unanswered section) or a mapping
    from section name (see :func:`odi_sections`) to its score; absent names count as missing."""
    spec = _spec()
    sections = odi_sections()
    top = int(spec["points_per_section"]["value"])
    max_missing = int(spec["max_missing_sections"]["value"])
    if isinstance(answers, Mapping):
        unknown = sorted(set(answers) - set(sections))
        if unknown:
            raise ParameterError(
                f"ODI answers: unknown section(s) {', '.join(unknown)}; the sections are "
                f"{', '.join(sections)}"
            )
        items = [answers.get(s) for s in sections]
    else:
        items = list(answers)
        if len(items) != len(sections):
            raise ParameterError(
                f"ODI answers: {len(items)} items given; the questionnaire has {len(sections)} "
                "sections (use None for an unanswered one)"
            )
    for name, value in zip(sections, items, strict=True):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            raise ParameterError(
                f"ODI section {name} = {value!r}: each section is scored 0 to {top} "
                "(the statement ticked, first = 0)"
            )
    missing = [s for s, v in zip(sections, items, strict=True) if v is None]
    if len(missing) > max_missing:
        raise ParameterError(
            f"ODI answers: {len(missing)} sections missing ({', '.join(missing)}); at most "
            f"{max_missing} may be missing for a valid score (Fairbank & Pynsent 2000): ask the "
            "patient to complete them"
        )
    answered = [v for v in items if v is not None]
    score = 100.0 * sum(answered) / (top * len(answered))
    band = next(b["label"] for b in spec["bands"] if score <= b["upper"])
    return OdiScore(
        score_percent=round(score, 1), answered=len(answered), missing_sections=missing, band=band
    )
