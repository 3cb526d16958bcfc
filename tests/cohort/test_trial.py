"""A virtual trial through every stage: arms known to differ differ in the published direction."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from spinefuse.cohort.runner import plan_batches
from spinefuse.cohort.simulation import simulate_batch
from spinefuse.cohort.spec import cohort_from_dict
from spinefuse.cohort.trial import run_trial
from spinefuse.errors import CaseError

SPEC = {
    "schema": "spinefuse/cohort@1",
    "name": "trial-test",
    "size": 6,
    "seed": 5,
    "batch_size": 3,
    "arms": [
        {
            "name": "tlif-auto-never",
            "technique": "TLIF",
            "graft": "local_autograft",
            "smoking": "never",
            "levels": 1,
        },
        {
            "name": "tlif-auto-smokers",
            "technique": "TLIF",
            "graft": "local_autograft",
            "smoking": "current",
            "levels": 1,
        },
        {
            "name": "plf-allograft",
            "technique": "PLF",
            "graft": "allograft",
            "smoking": "never",
            "levels": 1,
        },
    ],
}


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("trial")
    return out, run_trial(cohort_from_dict(SPEC), out, workers=2, progress=False)


def _arm(results: pd.DataFrame, name: str) -> pd.DataFrame:
    return results[results.arm == name].sort_values("patient").reset_index(drop=True)


def test_every_patient_goes_through_every_arm(trial: tuple[Path, pd.DataFrame]) -> None:
    out, res = trial
    assert len(res) == 18 and sorted(res.patient.unique()) == list(range(6))
    for name in ("results.parquet", "summary.csv", "differences.csv", "summary.html"):
        assert (out / name).is_file()
    plf = _arm(res, "plf-allograft")
    assert (plf.technique == "PLF").all() and (~plf.interbody).all()
    assert (plf.graft == "allograft").all() and (plf.levels == 1).all()
    for col in ("fusion_probability_24m", "nonunion_probability", "infection", "odi_12m"):
        assert res[col].between(0, 100).all() and res[col].notna().all()


def test_smokers_fuse_less(trial: tuple[Path, pd.DataFrame]) -> None:
    _, res = trial
    never, smokers = _arm(res, "tlif-auto-never"), _arm(res, "tlif-auto-smokers")
    # paired: the same patients, only their smoking differs
    assert never.age_years.tolist() == smokers.age_years.tolist()
    ratio = smokers.nonunion_probability.mean() / never.nonunion_probability.mean()
    # smoking raises non-union after lumbar fusion: RR 1.91 (1.56-2.35) in Nunna 2021, pooled
    # multivariable OR 1.68-5.44 in Boonsirikamchai 2024 (research notes clinical.md); a
    # six-patient trial must fall inside the widest of these
    assert 1.56 < ratio < 5.44
    assert (smokers.infection >= never.infection).all()


def test_allograft_alone_posterolateral_fuses_less_than_autograft_interbody(
    trial: tuple[Path, pd.DataFrame],
) -> None:
    _, res = trial
    tlif, plf = _arm(res, "tlif-auto-never"), _arm(res, "plf-allograft")
    gap = (tlif.fusion_probability_24m - plf.fusion_probability_24m).mean()
    # allograft in the posterolateral gutters (with the local bone the laminectomy yields) fuses
    # less often than autograft with an interbody cage: TLIF vs PLF OR 2.46 (Makanji 2018) is
    # ~8 points in the synthetic cohort with local bone alone, more with allograft; these six
    # patients' laminectomies mostly yield the bed's volume in local bone
    assert gap > 0.03
    assert (tlif.fusion_probability_24m > plf.fusion_probability_24m).all()
    # issue 18: the PLF-with-allograft arm fused in 22 %; allograft alone fuses in 40 % (Morris
    # 2018) and mixed with local bone more
    assert plf.fusion_probability_24m.mean() > 0.5
    # reoperation follows the healing stage's non-union: more in the PLF-allograft arm, but not
    # the 18-19 % of the issue
    assert plf.reoperation_2y.mean() > tlif.reoperation_2y.mean()
    assert plf.reoperation_2y.mean() < 0.15


def test_a_batch_is_reproducible_and_a_foreign_folder_refused(
    trial: tuple[Path, pd.DataFrame],
) -> None:
    out, res = trial
    spec = cohort_from_dict(SPEC)
    (batch,) = [
        b
        for b in plan_batches(spec.model_dump_json(by_alias=True), ["plf-allograft"], 6, 3)
        if b.start == 3
    ]
    again = simulate_batch(batch)
    stored = pd.read_parquet(out / "batches" / batch.file_name)
    pd.testing.assert_frame_equal(again.reset_index(drop=True), stored, check_dtype=False)
    other = cohort_from_dict({**SPEC, "seed": 6})
    with pytest.raises(CaseError, match="different trial"):
        run_trial(other, out, workers=1, progress=False)


def test_a_one_patient_cohort_gives_the_single_patients_answer() -> None:
    """One patient, one answer (issue 15/18): the cohort's healing and forecast of a virtual
    patient equal heal() and forecast() run on that patient's case, spine and plan with the
    spec's seed."""
    from spinefuse.anatomy.template import virtual_spine
    from spinefuse.assess import assess_case
    from spinefuse.cohort.simulation import (
        arm_of,
        arm_segments,
        batch_patients,
        virtual_case,
        virtual_spec,
    )
    from spinefuse.healing import heal
    from spinefuse.outcomes import forecast
    from spinefuse.plan import plan_surgery

    spec = cohort_from_dict({**SPEC, "size": 1, "batch_size": 1})
    (batch,) = plan_batches(spec.model_dump_json(by_alias=True), ["plf-allograft"], 1, 1)
    cohort_row = simulate_batch(batch).iloc[0]
    row = next(batch_patients(batch).itertuples(index=False))
    arm = arm_of(spec, "plf-allograft")
    case, g = virtual_case(row), virtual_spine(virtual_spec(row, spec.seed))
    plan = plan_surgery(
        case,
        g,
        assess_case(case, g),
        technique="PLF",
        graft="allograft",
        levels=arm_segments(arm, row),
    )
    assert plan is not None
    course = heal(case, g, plan, seed=spec.seed)
    assert cohort_row["nonunion_probability"] == course.nonunion_probability
    assert cohort_row["fusion_probability_12m"] == course.fusion_probability[12]
    f = forecast(case, plan, course.nonunion_probability, diagnosis=str(row.diagnosis))
    for name in ("reoperation_2y", "infection", "readmission_90d", "transfusion"):
        assert cohort_row[name] == pytest.approx(f.risk(name).probability, rel=1e-12), name
    assert cohort_row["odi_12m"] == pytest.approx(f.summary["odi_12m"], abs=1e-4)
    assert cohort_row["odi_mcid_probability"] == pytest.approx(
        f.summary["odi_mcid_probability"], abs=1e-4
    )


def test_every_covariate_reaches_the_models(trial: tuple[Path, pd.DataFrame]) -> None:
    """Issue 18 item 5: virtual patients were all ASA 2 with no stenosis or revision; now the
    drawn ASA, diagnosis, stenosis, revision and baseline pain enter the case and the models."""
    _, res = trial
    assert {"asa_class", "diagnosis", "stenosis", "revision", "eq5d_12m", "odi_24m"} <= set(
        res.columns
    )
    assert res.asa_class.between(1, 4).all()
