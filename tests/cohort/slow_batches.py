"""Batch functions for the runner's fault tests: picklable, slow on purpose, leaving markers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from spinefuse.cohort.runner import Batch


def sleepy_batch(batch: Batch) -> pd.DataFrame:
    """Write ``started-<start>`` into $SPINEFUSE_TEST_MARKS, sleep, then write ``done-<start>``."""
    marks = Path(os.environ["SPINEFUSE_TEST_MARKS"])
    (marks / f"started-{batch.arm}-{batch.start}").write_text(str(os.getpid()))
    time.sleep(float(os.environ.get("SPINEFUSE_TEST_SLEEP", "1.0")))
    (marks / f"done-{batch.arm}-{batch.start}").write_text(str(os.getpid()))
    return pd.DataFrame({"patient": range(batch.start, batch.stop), "arm": batch.arm})
