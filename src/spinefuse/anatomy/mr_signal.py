"""The MR signal of a tissue: the spin-echo equation S = PD (1 − exp(−TR/T1)) exp(−TE/T2) with the
tissue properties and default sequence times of ``data/mr_tissue.yaml`` (1.5 T). The synthetic MR
draws its images with it and the Pfirrmann grading inverts it."""

from __future__ import annotations

from typing import Any

import numpy as np

from spinefuse.datafiles import load_yaml


def tissue_table() -> dict[str, dict[str, float]]:
    """Tissue -> {pd, t1_ms, t2_ms} from ``data/mr_tissue.yaml``."""
    tissues: dict[str, Any] = load_yaml("mr_tissue.yaml")["tissues"]
    return {k: v for k, v in tissues.items() if isinstance(v, dict)}


def sequence_times(weighting: str) -> tuple[float, float]:
    """(TE, TR) in ms of the default sequence of a weighting."""
    seq = load_yaml("mr_tissue.yaml")["sequences"][weighting]
    return float(seq["te_ms"]), float(seq["tr_ms"])


def spin_echo(pd: float, t1_ms: float, t2_ms: float, te_ms: float, tr_ms: float) -> float:
    """Spin-echo signal of a tissue (relative to water at full recovery, no decay)."""
    return float(pd * (1.0 - np.exp(-tr_ms / t1_ms)) * np.exp(-te_ms / t2_ms))
