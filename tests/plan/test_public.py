"""The planning package's public surface and its contract signature."""

import inspect

import spinefuse.plan as plan_pkg
from spinefuse.pipeline import run


def test_public_names_resolve():
    for name in plan_pkg.__all__:
        assert getattr(plan_pkg, name) is not None, name


def test_plan_surgery_has_the_contract_keywords():
    sig = inspect.signature(plan_pkg.plan_surgery)
    assert list(sig.parameters)[:3] == ["case", "geometry", "assessment"]
    keywords = [
        "images",
        "technique",
        "approach",
        "graft",
        "rod_material",
        "rod_diameter_mm",
        "levels",
        "catalogue",
    ]
    for k in keywords:
        assert sig.parameters[k].kind is inspect.Parameter.KEYWORD_ONLY
        assert sig.parameters[k].default is None
    assert list(inspect.signature(plan_pkg.write_implant_meshes).parameters)[:2] == [
        "plan",
        "out_dir",
    ]


def test_the_plan_stage_says_why_there_is_no_plan(make_case):
    # a case without imaging and without segments named by the surgeon has no plan
    result = run(make_case(), "plan", progress=False)
    assert result.plan is None
    assert result.skipped["assessment"].code == "nothing_to_assess"
    assert result.skipped["plan"].code == "no_geometry"
