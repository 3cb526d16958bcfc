"""Naming the levels found: with nothing in view to tell the hypotheses apart, the flagged
guess puts them in the lumbar spine; an anchor or a named level decides as before."""

from __future__ import annotations

from spinefuse.imaging.level_naming import name_levels, named


def test_a_guess_from_nothing_is_lumbar_and_flagged() -> None:
    # was C3, C2, C1: the first hypothesis counted, for three lumbar vertebrae of a crop
    guess = name_levels(3, [], sizes=[None, None, None])
    assert guess.names == ("L5", "L4", "L3")
    assert guess.needs_anchor and guess.confidence <= 0.5
    assert any(code == "needs_named_anchor" for code, _lv, _t in guess.messages)


def test_a_named_level_decides_the_tie() -> None:
    named_l4 = name_levels(3, [named("named_lowest", 0, "L4")], sizes=[None, None, None])
    assert named_l4.names == ("L4", "L3", "L2") and not named_l4.needs_anchor
    assert named_l4.confidence == 1.0
