from pathlib import Path

import pytest
import yaml

from spinefuse.errors import ParameterError, SpinefuseError
from spinefuse.plan.catalogue import (
    CatalogueError,
    catalogue_from_dict,
    default_catalogue,
    load_catalogue,
)
from spinefuse.plan.rules import planning_rules


def _data() -> dict:
    return default_catalogue().model_dump(mode="json", by_alias=True)


def test_default_catalogue_holds_the_issue_ranges() -> None:
    c = default_catalogue()
    assert c.screws.diameters_mm[0] == 4.5 and c.screws.diameters_mm[-1] == 8.5
    assert c.screws.lengths_mm[0] == 30 and c.screws.lengths_mm[-1] == 60
    assert {(r.material, r.diameter_mm) for r in c.rods} == {
        ("titanium", 5.5),
        ("titanium", 6.0),
        ("cobalt_chrome", 5.5),
        ("cobalt_chrome", 6.0),
    }
    assert set(c.cages) == {"TLIF", "PLIF", "ALIF", "LLIF"}
    assert set(c.grafts) == {
        "local_autograft",
        "iliac_crest_autograft",
        "allograft",
        "dbm",
        "ceramic",
        "rhbmp2",
    }
    # cobalt-chrome is about twice as stiff as Ti-6Al-4V; PEEK about 30 times softer
    ti, cocr, peek = c.material("ti6al4v"), c.material("cocr"), c.material("peek")
    assert 1.8 < cocr.elastic_modulus_mpa / ti.elastic_modulus_mpa < 2.3
    assert 25 < ti.elastic_modulus_mpa / peek.elastic_modulus_mpa < 40
    assert all(m.source for m in c.materials.values())


def test_round_trip_through_a_site_file(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    data = _data()
    data["screws"]["diameters_mm"] = [5.0, 6.0, 7.0]
    path.write_text(yaml.safe_dump(data))
    site = load_catalogue(path)
    assert site.screws.diameters_mm == [5.0, 6.0, 7.0]
    assert site.rod("cobalt_chrome", 6.0).alloy == "cocr"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(schema="spinefuse/catalogue@9"), "schema"),
        (lambda d: d["screws"].update(diameters_mm=[6.0, 5.0]), "diameters_mm"),
        (lambda d: d["rods"][0].update(alloy="steel"), "rods.0.alloy = 'steel'"),
        (lambda d: d["materials"]["peek"].update(elastic_modulus_mpa=-1), "elastic_modulus_mpa"),
        (lambda d: d["cages"]["TLIF"].update(count=3), "cages.TLIF.count"),
    ],
)
def test_invalid_catalogue_names_the_field(change, expected: str) -> None:
    data = _data()
    change(data)
    with pytest.raises(CatalogueError, match=expected.replace(".", r"\.")) as err:
        catalogue_from_dict(data, "site.yaml")
    assert isinstance(err.value, SpinefuseError) and isinstance(err.value, ValueError)


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="no such implant catalogue"):
        load_catalogue(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: [unclosed\n")
    with pytest.raises(CatalogueError, match="not valid YAML"):
        load_catalogue(bad)


def test_unstocked_rod_and_cage_are_refused() -> None:
    c = default_catalogue()
    with pytest.raises(CatalogueError, match="stocks no titanium rod of 6.35 mm"):
        c.rod("titanium", 6.35)
    data = _data()
    del data["cages"]["LLIF"]
    with pytest.raises(ParameterError, match="no LLIF cages"):
        catalogue_from_dict(data).cage_line("LLIF")


def test_rules_lordosis_targets_follow_the_pi_classes() -> None:
    r = planning_rules()
    # PMC4303780 Table 3: class I PI+18, III PI+9, VI PI-5
    assert r.lordosis_target_deg(35.0) == pytest.approx(53.0)
    assert r.lordosis_target_deg(52.0) == pytest.approx(61.0)
    assert r.lordosis_target_deg(85.0) == pytest.approx(80.0)
    shares = r.segmental_lordosis_share.values
    assert sum(shares.values()) == pytest.approx(1.0, abs=0.01)
