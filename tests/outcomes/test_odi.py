"""ODI questionnaire scoring: the total over the answered maximum, the missing-item rule."""

from __future__ import annotations

import pytest

from spinefuse.errors import ParameterError
from spinefuse.outcomes.odi import odi_sections, score_odi


def test_full_questionnaire_scores_total_over_fifty() -> None:
    s = score_odi([3, 2, 4, 1, 2, 3, 1, 0, 2, 3])  # total 21
    assert s.score_percent == 42.0 and s.answered == 10 and s.band == "severe disability"


def test_one_missing_section_divides_by_forty_five() -> None:
    answers = dict(zip(odi_sections(), [3, 2, 4, 1, 2, 3, 1, 0, 2, 3], strict=True))
    del answers["sex_life"]  # a commonly skipped section
    s = score_odi(answers)
    assert s.score_percent == pytest.approx(round(100 * 21 / 45, 1))
    assert s.missing_sections == ["sex_life"] and s.answered == 9


def test_extremes_and_bands() -> None:
    assert score_odi([0] * 10).score_percent == 0.0
    assert score_odi([0] * 10).band == "minimal disability"
    assert score_odi([5] * 10).score_percent == 100.0


def test_two_missing_sections_are_not_scored() -> None:
    with pytest.raises(ParameterError, match="2 sections missing .*sex_life, travelling"):
        score_odi([1, 1, 1, 1, 1, 1, 1, None, 1, None])


@pytest.mark.parametrize("bad", [6, -1, 2.5, True])
def test_impossible_item_scores_are_named(bad: object) -> None:
    with pytest.raises(ParameterError, match="ODI section lifting"):
        score_odi([1, 1, bad, 1, 1, 1, 1, 1, 1, 1])  # type: ignore[list-item]


def test_wrong_length_and_unknown_section() -> None:
    with pytest.raises(ParameterError, match="9 items given"):
        score_odi([1] * 9)
    with pytest.raises(ParameterError, match="unknown section.*running"):
        score_odi({"running": 2})
