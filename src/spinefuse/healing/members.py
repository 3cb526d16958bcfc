"""Each patient's ensemble members: their own random stream, derived from the run seed and the
case id, so a patient's result does not depend on which batch (or cohort) it is simulated in.

A member is a point in four standard-normal deviates (biology, loads, endplate strength, rod
fatigue life). The members of a patient are a Latin hypercube in those dimensions: each
deviate's ``members`` equal-probability strata hold exactly one member, so a probability over the
members converges like a quadrature in the dominant (biology) deviate rather than like plain
Monte Carlo, for any number of members.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri

from spinefuse.errors import ParameterError

FloatArray = NDArray[np.float64]
DEVIATES = ("biology", "load", "endplate_yield", "rod_life")
"""The member deviates, in the order of the last axis of :func:`member_deviates`."""


def stable_hash(case_id: str) -> int:
    """A hash of a case id that is the same in every process and Python version (CRC-32)."""
    return zlib.crc32(case_id.encode("utf-8"))


def patient_stream(seed: int, case_id: str) -> np.random.Generator:
    """The patient's random generator: ``SeedSequence([seed, stable_hash(case_id)])``."""
    if seed < 0:
        raise ParameterError(f"seed = {seed}: the run seed is a non-negative integer")
    return np.random.default_rng(np.random.SeedSequence([int(seed), stable_hash(case_id)]))


def member_deviates(seed: int, case_id: str, members: int) -> FloatArray:
    """Standard-normal deviates of one patient's members, ``(members, 4)`` in :data:`DEVIATES`
    order: a Latin hypercube from the patient's own stream (same seed and id, same members)."""
    if members < 1:
        raise ParameterError(f"members = {members}: need at least one ensemble member")
    rng = patient_stream(seed, case_id)
    d = len(DEVIATES)
    strata = np.stack([rng.permutation(members) for _ in range(d)], axis=1)
    u = (strata + rng.random((members, d))) / members
    z: FloatArray = ndtri(u)
    return z


def cohort_deviates(seed: int, case_ids: Sequence[str], members: int) -> FloatArray:
    """Deviates of every patient of a table, ``(n, members, 4)``; row ``i`` equals
    ``member_deviates(seed, case_ids[i], members)``."""
    if len(case_ids) == 0:
        raise ParameterError("no patients: give at least one case id")
    return np.stack([member_deviates(seed, str(c), members) for c in case_ids])
