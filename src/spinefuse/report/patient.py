"""The patient's report: the same case in plain words a 12-year-old can follow.

Risks are given as natural frequencies ("about 2 in 100 people") with a picture of 100 people,
never as percentages alone. Every number comes from the run's records; where a stage did not
run, the report says the care team will explain that part.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from spinefuse.conventions import parse_segment
from spinefuse.plan.surgical_plan import SurgicalPlan
from spinefuse.report import spine3d
from spinefuse.report.figures import ACCENT, PLANNED
from spinefuse.report.stage_views import (
    Milestone,
    fusion_probability_points,
    recovery_milestones,
    risks,
    stay_days,
    trajectories,
)

if TYPE_CHECKING:
    from spinefuse.outcomes.forecast import Forecast
    from spinefuse.pipeline import CaseResult

MAX_RISKS = 10
"""The patient's report shows the most likely complications, at most this many."""


def natural_frequency(p: float) -> str:
    """A probability as "about N in 100 people" (or in 1,000 or 10,000 for rare events)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {p} is outside 0…1")
    if p >= 0.0095:
        n = round(100 * p)
        if n >= 100:
            return "almost everyone (more than 99 in 100 people)" if p < 1.0 else "everyone"
        return f"about {n} in 100 people"
    if p >= 0.00095:
        return f"about {round(1000 * p)} in 1,000 people"
    n = round(10000 * p)
    return f"about {n} in 10,000 people" if n >= 1 else "fewer than 1 in 10,000 people"


def icon_array(p: float, colour: str = PLANNED, out_of: int = 100) -> str:
    """A picture of ``out_of`` people (100 or 1,000) as dots, ``round(out_of · p)`` of them
    coloured: an SVG ``data:`` URI (drawn directly, sharp at any size and quick to make)."""
    if out_of not in (100, 1000):
        raise ValueError(f"out_of = {out_of}: draw 100 or 1000 people")
    cols = 10 if out_of == 100 else 40
    k = int(round(out_of * min(max(p, 0.0), 1.0)))
    r = 0.42 if out_of == 100 else 0.38
    rows = out_of // cols
    dots = "".join(
        f'<circle cx="{i % cols + 0.5}" cy="{i // cols + 0.5}" r="{r}" '
        f'fill="{colour if i < k else "#cfd8e0"}"/>'
        for i in range(out_of)  # one dot per person: at most 1,000 small elements
    )
    width_px = 171
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {cols} {rows}" '
        f'width="{width_px}" height="{round(width_px * rows / cols)}">{dots}</svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


def ordinal(n: int) -> str:
    """1 -> "1st", 2 -> "2nd", 11 -> "11th"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def bone_name(name: str) -> str:
    """A vertebra in plain words: "L4" -> "the 4th bone of your lower back"."""
    if name == "S1":
        return "the top of your sacrum (the big bone at the bottom of your back)"
    if name.startswith("L") and name[1:].isdigit():
        return f"the {ordinal(int(name[1:]))} bone of your lower back"
    return f"the bone called {name}"


def segment_words(segment: str) -> str:
    """A motion segment in plain words: "L4-L5" -> "the 4th and 5th bones of your lower back"."""
    upper, lower = parse_segment(segment)
    if not (upper[0] == "L" and upper[1:].isdigit()):
        return f"the bones called {upper} and {lower}"
    first = ordinal(int(upper[1:]))
    if lower == "S1":
        return f"the {first} bone of your lower back to your sacrum ({segment})"
    second = ordinal(int(lower[1:])) if lower[1:].isdigit() else lower
    return f"the {first} and {second} bones of your lower back ({segment})"


PROBLEMS = {
    "degenerative_spondylolisthesis": "one bone in your lower back has slipped forward over the "
    "one below it, because the joints that hold them together have worn out",
    "isthmic_spondylolisthesis": "one bone in your lower back has slipped forward, because a "
    "thin bridge of bone at its back has a crack",
    "central_stenosis": "the tunnel that your nerves run through has become too narrow, so the "
    "nerves get squeezed",
    "foraminal_stenosis": "the small side door where a nerve leaves your spine has become too "
    "narrow, so that nerve gets squeezed",
    "degenerative_disc_disease": "the soft cushion (the disc) between two bones has worn thin",
    "instability": "two bones in your back move against each other more than they should",
    "scoliosis": "your spine bends to the side instead of being straight",
    "sagittal_deformity": "your lower back has lost some of its normal curve, so it is hard to "
    "stand up straight",
    "osteoporosis": "your bones are thinner and weaker than usual",
    "osteopenia": "your bones are a bit thinner than usual",
    "vertebral_fracture": "one of the bones of your back has partly collapsed (a fracture)",
    "disc_herniation": "part of the soft cushion (the disc) between two bones has pushed out "
    "and can press on a nerve",
    "disc_bulge": "the soft cushion (the disc) between two bones bulges out a little all round",
    "lateral_recess_stenosis": "the space beside the tunnel where a nerve runs down has become "
    "too narrow",
}

RETROLISTHESIS = "one bone in your lower back has slipped a little backward over the one below it"

NERVE_AREAS = {
    "L1": "your groin",
    "L2": "the front of your thigh",
    "L3": "your knee",
    "L4": "the inside of your lower leg",
    "L5": "the top of your foot and your big toe",
    "S1": "the side and the sole of your foot",
}
"""Where each lower-back nerve goes, in plain words (for the patient's report)."""


def _side_words(side: str) -> str:
    return "on both sides" if side == "bilateral" else f"on the {side} side"


def nerve_sentences(r: CaseResult) -> list[str]:
    """The nerves the scans show squeezed, and whether that matches what the doctor found when
    testing the legs, in short plain sentences."""
    a = r.assessment
    if a is None or a.concordance is None:
        return []
    c = a.concordance
    out: list[str] = []
    for x in c.compressions:
        for root in x.roots:
            area = NERVE_AREAS.get(root.root, "your leg")
            squeezed = (
                f"The scan shows that the nerve called {root.root} is squeezed "
                f"{_side_words(root.side)}. This nerve goes to {area}."
            )
            if x.supported:
                out.append(
                    squeezed + " The tests of your legs found the same. So the scan and "
                    "the tests agree."
                )
            else:
                out.append(
                    squeezed + " But the tests of your legs do not show a problem with "
                    "this nerve. Your surgeon will not operate for this alone."
                )
    for sr in c.roots:
        if not sr.explained:
            area = NERVE_AREAS.get(sr.root, "your leg")
            out.append(
                f"The tests of your legs show a problem with the nerve called {sr.root} "
                f"{_side_words(sr.side)}. This nerve goes to {area}. The scans do not show "
                "why. Your surgeon will look for the cause before any operation."
            )
    return list(dict.fromkeys(out))


OPERATIONS = {
    "PLF": "The surgeon puts small screws into the bones and joins the screws with two rods, "
    "like a splint. Then the surgeon lays bone chips along the back of the spine. Over the next "
    "months these chips grow into solid bone that joins the bones together.",
    "TLIF": "The surgeon puts small screws into the bones and joins them with two rods, like a "
    "splint. From one side at the back, the surgeon takes out the worn cushion (disc) and puts "
    "a small spacer (a cage) filled with bone in its place. Over the next months new bone grows "
    "through the cage and joins the bones together.",
    "PLIF": "The surgeon puts small screws into the bones and joins them with two rods, like a "
    "splint. From the back, the surgeon takes out the worn cushion (disc) and puts two small "
    "spacers (cages) filled with bone in its place. Over the next months new bone grows through "
    "them and joins the bones together.",
    "ALIF": "The surgeon reaches the spine from the front, through your belly. The surgeon takes "
    "out the worn cushion (disc) and puts a spacer (a cage) filled with bone in its place. "
    "Often screws and rods are added at the back too. Over the next months new bone grows "
    "through the cage and joins the bones together.",
    "LLIF": "The surgeon reaches the spine from your side. The surgeon takes out the worn "
    "cushion (disc) and puts a spacer (a cage) filled with bone in its place. Often screws and "
    "rods are added at the back too. Over the next months new bone grows through the cage and "
    "joins the bones together.",
}

RISK_WORDS = {
    "infection": "get an infection in the wound",
    "surgical_site_infection": "get an infection in the wound",
    "dural_tear": "have a small tear in the bag of fluid around the nerves (it is usually fixed "
    "during the operation)",
    "transfusion": "need extra blood (a blood transfusion)",
    "readmission_90d": "have to come back into hospital within 3 months",
    "reoperation_2y": "need another back operation within 2 years",
    "nonhome_discharge": "go to a rehabilitation centre before going home",
    "nonunion": "find that the bones do not grow together",
    "neurological_deficit": "get new weakness or numbness in a leg",
    "asd_10y": "need an operation on the bones next to the fusion within 10 years",
    "asd_5y": "need an operation on the bones next to the fusion within 5 years",
    "vte": "get a blood clot in a leg or lung",
    "neurological_injury": "get new weakness or numbness in a leg",
}


def _operation(plan: SurgicalPlan) -> dict[str, Any]:
    parts = [f"The operation joins {segment_words(s)}." for s in plan.fuse_segments]
    if plan.decompressions:
        parts.append(
            "The surgeon also takes away some bone or tissue that presses on your "
            "nerves, to give them more room."
        )
    parts.append(OPERATIONS.get(plan.technique, ""))
    if plan.approach == "mis":
        parts.append("The surgeon works through small cuts, so the scar is small.")
    things = [
        t
        for t in (
            _count(len(plan.screws), "screw"),
            _count(len(plan.rods), "rod"),
            _count(sum(c.count for c in plan.cages), "spacer"),
        )
        if t
    ]
    counts = (
        " and ".join([", ".join(things[:-1]), things[-1]]) if len(things) > 1 else "".join(things)
    )
    return {"text": [p for p in parts if p], "counts": counts}


def _count(n: int, thing: str) -> str:
    return "" if n == 0 else f"1 {thing}" if n == 1 else f"{n} {thing}s"


def _when(week: float) -> str:
    day = round(7 * max(week, 0.0))
    if day == 0:
        return "Day of surgery"
    if week < 1:
        return f"Day {day}"
    return f"Week {round(week)}" if week < 8 else f"Month {round(week / 4.345)}"


def _plain_step(m: Milestone) -> str | None:
    """One milestone of the pathway in plain words, or None when it has no plain version."""
    what = m.what.lower()
    if m.kind == "mobilise":
        return "You stand up and walk with a physiotherapist (a movement coach)."
    if m.kind == "visit":
        if "wound" in what:
            return "A nurse or doctor checks that your wound is healing well."
        if "radiograph" in what or "x-ray" in what:
            return "Check-up with your surgeon, with X-ray pictures of your back."
        return "Check-up with your surgeon."
    if m.kind == "work":
        return "Many people go back to " + ("heavy work." if "manual" in what else "light work.")
    if m.kind == "phase":
        if "hospital" in what:
            return None
        if "home" in what:
            return "At home: walk every day, a little further each week."
        if "outpatient" in what or "rehab" in what:
            return "Exercises with a physiotherapist make your back and belly muscles strong."
        return m.what[0].upper() + m.what[1:] + "."
    if m.kind == "restriction":
        return None
    return m.what[0].upper() + m.what[1:] + "."


def _plain_activity(activity: str) -> bool:
    """True for restrictions a child can read: no abbreviations or brackets."""
    return not re.search(r"\b[A-Z]{3,}|\(|\)", activity)


def _weeks(fc: Forecast | None, los: float | None) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for m in recovery_milestones(fc):
        text = _plain_step(m)
        if text:
            rows.append((_when(m.week), text))
    if los is not None:  # after the first days in hospital
        at = next((i for i, (when, _) in enumerate(rows) if not when.startswith("Day")), len(rows))
        rows.insert(
            at, ("In hospital", f"Most people like you stay about {max(1, round(los))} days.")
        )
    return rows


def _avoid(fc: Forecast | None) -> list[str]:
    out = []
    for m in recovery_milestones(fc):
        activity = m.what.removeprefix("no ").strip()
        if m.kind == "restriction" and m.until is not None and _plain_activity(activity):
            out.append(f"No {activity} until week {round(m.until)}.")
    return out


def operation_picture(r: CaseResult) -> str | None:
    """The spine from the side with the planned implants (bones and implants only)."""
    if r.geometry is None or r.plan is None:
        return None
    return spine3d.sagittal_view(r.geometry, r.plan, simple=True)


def patient_context(r: CaseResult) -> dict[str, Any]:
    """The template context of the patient's report (see ``templates/patient.html.j2``)."""
    case = r.case
    problems = []
    if r.assessment is not None:
        seen = set()
        for f in r.assessment.findings:
            text = RETROLISTHESIS if f.slip_direction == "posterior" else PROBLEMS.get(f.diagnosis)
            if text and text not in seen:
                seen.add(text)
                where = f" ({f.level})" if f.level else ""
                problems.append(text[0].upper() + text[1:] + where + ".")
    fc = r.forecast
    los = stay_days(fc)
    risk_items = []
    for item in sorted(risks(fc), key=lambda x: -x.probability)[:MAX_RISKS]:
        key = (item.key or item.name).lower().replace(" ", "_")
        words = RISK_WORDS.get(key, item.name.replace("_", " "))
        out_of = 100 if item.probability >= 0.0095 else 1000
        risk_items.append(
            {
                "freq": natural_frequency(item.probability),
                "what": words,
                "picture": icon_array(item.probability, out_of=out_of),
                "out_of": f"{out_of:,}",
            }
        )
    fusion = fusion_probability_points(r.healing)
    fusion_text = None
    if fusion:
        month, p = max(fusion.items())
        fusion_text = (
            f"By {month:g} months after the operation, the bones have grown together "
            f"in {natural_frequency(p)} like you."
        )
    odi = next((t for t in trajectories(fc) if t.instrument == "odi"), None)
    improve = odi.at(12.0, odi.mcid_probability) if odi else None
    picture = operation_picture(r)
    return {
        "title": "Your back operation: what it is and what to expect",
        "to_check": bool(r.geometry is not None and r.geometry.needs_confirmation),
        "case_id": case.id,
        "age": f"{case.patient.age_years:.0f}",
        "problems": problems,
        "nerves": nerve_sentences(r),
        "no_surgery": r.assessment is not None and r.plan is None,
        "operation": _operation(r.plan) if r.plan else None,
        "picture": picture,
        "weeks": _weeks(fc, los),
        "avoid": _avoid(fc),
        "risks": risk_items,
        "fusion": fusion_text,
        "improve": (
            f"A year after the operation, {natural_frequency(improve)} like you find "
            "that they can clearly do more in daily life than before."
            if improve is not None
            else None
        ),
        "accent": ACCENT,
    }
