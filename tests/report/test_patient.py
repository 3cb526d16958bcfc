"""Plain language: natural frequencies, level names, and text a 12-year-old can read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spinefuse.report.patient import bone_name, natural_frequency, ordinal, segment_words


@pytest.mark.parametrize(
    ("p", "words"),
    [
        (0.021, "about 2 in 100 people"),
        (0.15, "about 15 in 100 people"),
        (0.0095, "about 1 in 100 people"),
        (0.004, "about 4 in 1,000 people"),
        (0.0003, "about 3 in 10,000 people"),
        (0.00001, "fewer than 1 in 10,000 people"),
        (0.996, "almost everyone (more than 99 in 100 people)"),
        (1.0, "everyone"),
    ],
)
def test_natural_frequency(p: float, words: str) -> None:
    assert natural_frequency(p) == words


def test_natural_frequency_refuses_a_non_probability() -> None:
    with pytest.raises(ValueError, match="1.2"):
        natural_frequency(1.2)


def test_level_names() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
    ]
    assert bone_name("L4") == "the 4th bone of your lower back"
    assert segment_words("L4-L5") == "the 4th and 5th bones of your lower back (L4-L5)"
    assert segment_words("L5-S1").startswith("the 5th bone of your lower back to your sacrum")


def _syllables(word: str) -> int:
    word = word.lower()
    groups = re.findall(r"[aeiouy]+", word)
    n = len(groups) - (1 if word.endswith("e") and len(groups) > 1 else 0)
    return max(1, n)


def flesch_kincaid_grade(text: str) -> float:
    """Flesch–Kincaid grade level (Kincaid et al. 1975): 0.39 words/sentence + 11.8
    syllables/word − 15.59."""
    sentences = [s for s in re.split(r"[.!?]+\s", text) if s.strip()]
    words = re.findall(r"[A-Za-z]+", text)
    syll = sum(_syllables(w) for w in words)
    return 0.39 * len(words) / len(sentences) + 11.8 * syll / len(words) - 15.59


def test_patient_report_reads_at_a_12_year_old_level(rendered: dict[str, Path]) -> None:
    html = rendered["patient.html"].read_text()
    body = html.split("<body", 1)[1]
    body = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", body, flags=re.S)
    body = re.sub(r'alt="[^"]*"', " ", body)
    text = re.sub(r"<[^>]+>", " ", body)
    text = re.sub(r"\([A-Z]\d-[A-Z]\d\)", " ", text)  # level codes are labels, not words
    text = re.sub(r"\s+", " ", text)
    # a 12-year-old is in US grade 6-7; keep the text at or below grade 7
    assert flesch_kincaid_grade(text) <= 7.0
    assert len(re.findall(r"[A-Za-z]+", text)) > 300  # and it says enough to be useful


def test_a_retrolisthesis_is_told_as_a_slip_backward(full_run) -> None:  # type: ignore[no-untyped-def]
    from spinefuse.assess.assessment import Finding
    from spinefuse.plan.technique import meyerding_grade
    from spinefuse.report.patient import patient_context

    retro = Finding(
        diagnosis="degenerative_spondylolisthesis",
        level="L2-L3",
        grade="retrolisthesis 14.3 %",
        slip_direction="posterior",
    )
    assert meyerding_grade(retro) is None  # not the "3" of 14.3 %
    assessment = full_run.assessment.model_copy(update={"findings": [retro]})
    from dataclasses import replace

    words = patient_context(replace(full_run, assessment=assessment))["problems"]
    assert words == [
        "One bone in your lower back has slipped a little backward over the one below it (L2-L3)."
    ]


def test_icon_array_colours_the_people_affected() -> None:
    import base64

    from spinefuse.report.patient import icon_array

    svg = base64.b64decode(icon_array(0.07).split(",", 1)[1]).decode()
    assert svg.count("<circle") == 100 and svg.count('fill="#c0392b"') == 7
    big = base64.b64decode(icon_array(0.004, out_of=1000).split(",", 1)[1]).decode()
    assert big.count("<circle") == 1000 and big.count('fill="#c0392b"') == 4
