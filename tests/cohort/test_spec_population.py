from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from spinefuse.cohort.population import BLOCK_PATIENTS, population_block, sample_population
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
        ({"arms": [{"name": "A", "levels": 5}]}, "arms.0.levels = 5"),
        ({"population": {"asa": {"p1": 0.5}}}, "ASA shares p1-p4 must sum to 1"),
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
    slipped = pop.diagnosis.isin(("degenerative_spondylolisthesis", "isthmic_spondylolisthesis"))
    assert (pop.slip_percent[~slipped] == 0).all() and (pop.slip_percent[slipped] > 0).all()


def test_a_batch_draws_only_its_blocks_and_gets_the_same_patients() -> None:
    """Issue 22: a patient is the same whatever slice of the population is drawn, and a batch
    near the end of a ten-million patient cohort draws one block, not the whole population."""
    p = cohort_from_dict(SPEC).population
    whole = sample_population(p, 3 * BLOCK_PATIENTS, seed=3)
    for start, n in [(0, 10), (BLOCK_PATIENTS - 5, 10), (2 * BLOCK_PATIENTS + 7, 100)]:
        part = sample_population(p, n, seed=3, start=start)
        pd.testing.assert_frame_equal(part, whole.iloc[start : start + n].reset_index(drop=True))
    far = sample_population(p, 500, seed=3, start=9_999_500)
    assert far.patient.tolist() == list(range(9_999_500, 10_000_000))
    block = population_block(p, 3, 9_999_500 // BLOCK_PATIENTS)
    offset = 9_999_500 % BLOCK_PATIENTS
    assert far.age_years.tolist() == block.age_years.iloc[offset : offset + 500].tolist()
    assert not far.age_years.equals(whole.age_years.iloc[:500])
    with pytest.raises(ValueError, match="start >= 0"):
        sample_population(p, 10, seed=3, start=-1)


def test_covariates_carry_their_correlations() -> None:
    """Issue 18 item 5: ASA rises with age, diabetes and BMI; diabetes with age and BMI; the
    marginal shares stay the spec's; 1-4 levels and revision cases are drawn."""
    spec = cohort_from_dict(SPEC)
    p = spec.population
    pop = sample_population(p, 20000, seed=3)
    n = len(pop)
    shares = pop.asa_class.value_counts(normalize=True).sort_index()
    for k, want in zip((1, 2, 3, 4), (p.asa.p1, p.asa.p2, p.asa.p3, p.asa.p4), strict=True):
        assert abs(shares.get(k, 0.0) - want) < 4 * np.sqrt(want * (1 - want) / n) + 1e-9
    diabetic = pop.diabetes != "none"
    want = p.diabetes.prevalence
    assert abs(diabetic.mean() - want) < 4 * np.sqrt(want * (1 - want) / n) + 0.005
    old, young = pop.age_years >= 70, pop.age_years < 55
    assert pop.asa_class[old].mean() > pop.asa_class[young].mean() + 0.2
    assert diabetic[old].mean() > 1.5 * diabetic[young].mean()
    assert diabetic[pop.bmi >= 35].mean() > 1.5 * diabetic[pop.bmi < 27].mean()
    assert pop.asa_class[diabetic].mean() > pop.asa_class[~diabetic].mean()
    assert sorted(pop.levels.unique()) == [1, 2, 3, 4]
    assert abs(pop.revision.mean() - p.revision) < 0.01
    assert set(pop.diagnosis.unique()) == set(p.diagnosis_mix)
    assert pop.stenosis[pop.diagnosis == "stenosis"].all()
    assert np.corrcoef(pop.age_years, pop.trabecular_hu)[0, 1] < -0.2


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
