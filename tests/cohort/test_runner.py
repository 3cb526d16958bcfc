from pathlib import Path

import pandas as pd
import pytest

from spinefuse.cohort.runner import open_executor, plan_batches, run_batches
from spinefuse.cohort.simulation import batch_patients
from spinefuse.cohort.spec import cohort_from_dict
from spinefuse.errors import ParameterError

SPEC = {
    "schema": "spinefuse/cohort@1",
    "name": "runner-test",
    "size": 60,
    "seed": 11,
    "batch_size": 7,
    "arms": [{"name": "smokers", "smoking": "current"}, {"name": "never", "smoking": "never"}],
}


def _batches() -> list:
    spec = cohort_from_dict(SPEC)
    return plan_batches(spec.to_json(), [a.name for a in spec.arms], spec.size, spec.batch_size)


def _read(files: list[Path]) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def test_batches_cover_every_patient_of_every_arm_once() -> None:
    batches = _batches()
    assert len(batches) == 2 * 9  # ceil(60 / 7) per arm
    for arm in ("smokers", "never"):
        covered = [i for b in batches if b.arm == arm for i in range(b.start, b.stop)]
        assert covered == list(range(60))
    with pytest.raises(ParameterError, match="batch_size = 0"):
        plan_batches("{}", ["a"], 10, 0)


def test_arms_share_patients_and_force_their_choices(tmp_path: Path) -> None:
    with open_executor(workers=2) as ex:
        res = _read(run_batches(_batches(), batch_patients, tmp_path, ex, progress=False))
    assert len(res) == 120
    smokers, never = res[res.arm == "smokers"], res[res.arm == "never"]
    assert (smokers.smoking == "current").all() and (never.smoking == "never").all()
    # a paired design: the same people (age, pelvis) in both arms
    assert smokers.age_years.tolist() == never.age_years.tolist()
    assert smokers.pelvic_incidence_deg.tolist() == never.pelvic_incidence_deg.tolist()


def test_interrupted_run_resumes_without_redoing_work(tmp_path: Path) -> None:
    batches = _batches()
    with open_executor(workers=2) as ex:
        whole = _read(run_batches(batches, batch_patients, tmp_path / "whole", ex, progress=False))
        # "killed halfway": only the first half of the batches finished
        part = tmp_path / "resumed"
        run_batches(batches[: len(batches) // 2], batch_patients, part, ex, progress=False)
        first = {p: p.stat().st_mtime_ns for p in part.iterdir()}
        (part / ".stale.parquet.tmp").write_bytes(b"half-written")  # a write the kill cut short
        files = run_batches(batches, batch_patients, part, ex, progress=False)
    assert all(p.stat().st_mtime_ns == t for p, t in first.items() if p.suffix == ".parquet")
    pd.testing.assert_frame_equal(_read(files), whole)


def test_local_dask_cluster_gives_identical_results(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    batches = _batches()
    with open_executor(workers=2) as ex:
        local = _read(run_batches(batches, batch_patients, tmp_path / "pool", ex, progress=False))
    with open_executor(workers=2, scheduler="local") as ex:
        dask = _read(run_batches(batches, batch_patients, tmp_path / "dask", ex, progress=False))
    pd.testing.assert_frame_equal(dask, local)
