from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from spinefuse.cohort.population import sample_population
from spinefuse.cohort.spec import cohort_from_dict, load_cohort_spec
from spinefuse.errors import CaseError

SPEC = {
    "schema": "spinefuse/cohort@1",
    "name": "tlif-vs-plf",
    "size": 20000,
    "seed": 3,
    "arms": [{"name": "TLIF", "technique": "TLIF"}, {"name": "PLF", "technique": "PLF"}],
}


def test_defaults_fill_the_population_and_overrides_apply(tmp_path: Path) -> None:
    spec = cohort_from_dict(
        {**SPEC, "population": {"smoking_current": 0.5, "age_years": {"mean": 70}}}
    )
    assert spec.population.smoking_current == 0.5
    assert spec.population.age_years.mean == 70 and spec.population.age_years.sd == 11.0
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(SPEC))
    assert load_cohort_spec(p).arms[1].technique == "PLF"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"schema": "spinefuse/cohort@2"}, "schema = 'spinefuse/cohort@2'"),
        ({"size": 0}, "size = 0"),
        ({"arms": [{"name": "A"}, {"name": "A"}]}, "arm names must be unique"),
        ({"arms": [{"name": "A", "technique": "XLIF"}]}, "arms.0.technique = 'XLIF'"),
        ({"population": {"female_fraction": 1.4}}, "population.female_fraction = 1.4"),
        ({"outputs": ["mechanics", "dreams"]}, "unknown outputs ['dreams']"),
    ],
)
def test_bad_specs_name_the_field(patch: dict, message: str) -> None:
    with pytest.raises(CaseError) as err:
        cohort_from_dict({**SPEC, **patch}, "spec.yaml")
    assert message in str(err.value)


def test_population_matches_its_spec_and_is_seeded() -> None:
    spec = cohort_from_dict(SPEC)
    pop = sample_population(spec.population, 20000, seed=3)
    assert pop.equals(sample_population(spec.population, 20000, seed=3))
    assert not pop.equals(sample_population(spec.population, 20000, seed=4))
    p = spec.population
    # proportions within 4 binomial standard errors of the spec
    for col, want, value in [
        ("sex", p.female_fraction, "female"),
        ("smoking", p.smoking_current, "current"),
    ]:
        share = (pop[col] == value).mean()
        assert abs(share - want) < 4 * np.sqrt(want * (1 - want) / len(pop))
    assert abs(pop.age_years.mean() - p.age_years.mean) < 0.5
    assert pop.age_years.between(p.age_years.min, p.age_years.max).all()
    assert np.allclose(pop.bmi, pop.weight_kg / (pop.height_cm / 100) ** 2, atol=0.05)
    r = np.corrcoef(pop.pelvic_incidence_deg, pop.lumbar_lordosis_deg)[0, 1]
    assert r == pytest.approx(p.pelvic.correlation, abs=0.03)
    assert (pop.slip_percent[pop.pathology == "degenerative_disc_disease"] == 0).all()


def test_pelvic_defaults_are_those_of_the_uci_normal_rows(shared_data: Path) -> None:
    uci = pd.read_csv(shared_data / "tables/uci_vertebral_column/column_3C_weka.csv")
    normal = uci[uci.status == "Normal"]
    pel = cohort_from_dict(SPEC).population.pelvic
    assert pel.pelvic_incidence_deg[0] == pytest.approx(normal.pelvic_incidence.mean(), abs=0.05)
    assert pel.pelvic_incidence_deg[1] == pytest.approx(normal.pelvic_incidence.std(), abs=0.05)
    assert pel.lumbar_lordosis_deg[0] == pytest.approx(
        normal.lumbar_lordosis_angle.mean(), abs=0.05
    )
    r = np.corrcoef(normal.pelvic_incidence, normal.lumbar_lordosis_angle)[0, 1]
    assert pel.correlation == pytest.approx(r, abs=0.005)
