"""The planning package's public surface and its contract signature."""

import inspect
import json

import spinefuse.plan as plan_pkg
from spinefuse.case import save_case


def test_public_names_resolve():
    for name in plan_pkg.__all__:
        assert getattr(plan_pkg, name) is not None, name


def test_plan_surgery_has_the_contract_keywords():
    sig = inspect.signature(plan_pkg.plan_surgery)
    assert list(sig.parameters)[:3] == ["case", "geometry", "assessment"]
    keywords = [
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


def test_plan_json_says_why_there_is_no_plan(tmp_path, make_case):
    # a case without imaging has no geometry to plan implants on
    path = save_case(make_case(), tmp_path / "case.yaml")
    out = json.loads(plan_pkg.plan_json(path))
    assert out["plan"] is None and "no CT/MR geometry" in out["reason"]
