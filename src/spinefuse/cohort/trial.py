"""A virtual trial end to end: the spec's batches through every stage, then the analysis.

``run_trial`` writes into its output folder: ``spec.json`` (the validated spec), ``batches/``
(one Parquet file per finished batch, so an interrupted trial resumes), ``results.parquet`` (one
row per patient-arm), ``summary.csv`` and ``differences.csv`` (per-arm estimates and paired
differences against the first arm, with 95 % intervals) and ``summary.html`` (with figures).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spinefuse.cohort.analysis import compare, summarise, write_summary_html
from spinefuse.cohort.runner import open_executor, plan_batches, run_batches
from spinefuse.cohort.simulation import simulate_batch
from spinefuse.cohort.spec import CohortSpec
from spinefuse.errors import CaseError
from spinefuse.records import check_output_folder, write_atomic


def run_trial(
    spec: CohortSpec,
    out_dir: Path,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run (or resume) a virtual trial into ``out_dir``; return the patient-arm results.

    ``out_dir`` is checked first (:func:`~spinefuse.records.check_output_folder`); a folder
    holding another trial is refused; batch files that are truncated or of another spec are
    computed again."""
    out_dir = check_output_folder(out_dir)
    spec_json = spec.model_dump_json(by_alias=True)
    saved = out_dir / "spec.json"
    if saved.exists() and saved.read_text() != spec_json:
        raise CaseError(
            f"{out_dir}: holds a different trial's results (spec.json differs); use a new --out "
            "folder or delete the old one"
        )
    write_atomic(saved, spec_json)
    batches = plan_batches(spec_json, [a.name for a in spec.arms], spec.size, spec.batch_size)
    with open_executor(workers, scheduler) as executor:
        files = run_batches(batches, simulate_batch, out_dir / "batches", executor, progress)
    results = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    tmp = out_dir / ".results.parquet.tmp"
    results.to_parquet(tmp, index=False)
    tmp.replace(out_dir / "results.parquet")
    write_atomic(out_dir / "summary.csv", summarise(results).to_csv(index=False))
    reference = spec.arms[0].name
    if len(spec.arms) > 1:
        write_atomic(out_dir / "differences.csv", compare(results, reference).to_csv(index=False))
    write_summary_html(results, out_dir / "summary.html", spec.name, reference)
    return results
