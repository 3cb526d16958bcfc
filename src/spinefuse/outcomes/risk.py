"""Shared machinery of the outcome models: logistic risks and log-normal quantities.

A model is a set of cited effects on coded covariates (``covariates.py``) plus an intercept. For
a binary outcome the intercept is solved so that the mean predicted risk over the reference
population equals the published marginal rate (calibration-in-the-large), so a published rate and
published odds ratios together define the model. Effects on ``event_<outcome>`` covariates are
complications in the same patient; their probabilities come from upstream models and the risk is
mixed over them (independent events, every combination weighted by its probability).

Uncertainty intervals come from parameter draws: each effect's coefficient is drawn from a normal
on its log scale with the standard error its 95 % interval implies, the marginal rate from a
logit-normal within its interval, and the intercept is re-solved per draw. All of it is vectorised
over patients (n) and draws (m).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import expit, logit

from spinefuse.outcomes.covariates import EVENT_PREFIX, covariate, describe
from spinefuse.outcomes.parameters import Z95, Effect, Quantity, effects, quantity

FloatArray = NDArray[np.float64]
DRAWS = 400
"""Parameter draws behind every uncertainty interval."""


@dataclass(frozen=True)
class Driver:
    """One factor that moves this patient's prediction away from the reference patient's."""

    factor: str
    value: str
    ratio: float
    unit: str
    source: str
    certainty: str


@dataclass(frozen=True)
class Design:
    """Covariates of n patients for one model: patient covariates X (n, k) and the probabilities
    of the upstream events the model depends on, E (n, e)."""

    x: FloatArray
    events: FloatArray


def event_mixture(event_probs: FloatArray) -> tuple[FloatArray, FloatArray]:
    """All 0/1 combinations of e independent events, shape (2**e, e), and each patient's weight
    of each combination, shape (n, 2**e)."""
    n, e = event_probs.shape
    combos = np.array(list(itertools.product((0.0, 1.0), repeat=e)), dtype=float).reshape(2**e, e)
    p = event_probs[:, None, :]
    weights = np.prod(np.where(combos[None] == 1.0, p, 1.0 - p), axis=2)
    return combos, weights


@dataclass(frozen=True)
class Model:
    """Effects on covariates; the part binary and continuous models share."""

    name: str
    label: str
    effects: tuple[Effect, ...]
    patient_effects: tuple[Effect, ...] = field(init=False)
    event_effects: tuple[Effect, ...] = field(init=False)

    def __post_init__(self) -> None:
        pe = tuple(e for e in self.effects if not e.covariate.startswith(EVENT_PREFIX))
        ee = tuple(e for e in self.effects if e.covariate.startswith(EVENT_PREFIX))
        object.__setattr__(self, "patient_effects", pe)
        object.__setattr__(self, "event_effects", ee)

    @property
    def events(self) -> tuple[str, ...]:
        """Upstream outcomes this model depends on."""
        return tuple(e.covariate.removeprefix(EVENT_PREFIX) for e in self.event_effects)

    def design(self, patients: pd.DataFrame, events: dict[str, FloatArray]) -> Design:
        """The model's covariates for a validated patient table; ``events`` maps each upstream
        outcome to its per-patient probability."""
        n = len(patients)
        x = np.zeros((n, len(self.patient_effects)))
        for j, e in enumerate(self.patient_effects):
            x[:, j] = covariate(e.covariate, patients)
        ev = np.zeros((n, len(self.event_effects)))
        for j, name in enumerate(self.events):
            ev[:, j] = events[name]
        return Design(x, ev)

    @property
    def beta(self) -> FloatArray:
        return np.array([e.coefficient for e in self.patient_effects], dtype=float)

    @property
    def beta_events(self) -> FloatArray:
        return np.array([e.coefficient for e in self.event_effects], dtype=float)

    def draw_coefficients(self, rng: np.random.Generator, m: int) -> tuple[FloatArray, FloatArray]:
        """m draws of the patient and event coefficients, shapes (m, k) and (m, e)."""

        def draw(effs: tuple[Effect, ...]) -> FloatArray:
            mu = np.array([e.coefficient for e in effs], dtype=float)
            sd = np.array([e.coefficient_sd for e in effs], dtype=float)
            return mu[None, :] + sd[None, :] * rng.standard_normal((m, len(effs)))

        return draw(self.patient_effects), draw(self.event_effects)

    def drivers(
        self, patients: pd.DataFrame, events: dict[str, FloatArray], row: int = 0
    ) -> list[Driver]:
        """The factors that move patient ``row`` away from the reference patient, largest first."""
        out: list[tuple[float, Driver]] = []
        d = self.design(patients, events)
        for j, e in enumerate(self.patient_effects):
            contribution = e.coefficient * d.x[row, j]
            if contribution == 0.0:
                continue
            ratio = contribution if e.additive else math.exp(contribution)
            value = describe(e.covariate, patients, row)
            out.append(
                (abs(contribution), Driver(e.name, value, ratio, e.unit, e.source, e.certainty))
            )
        for j, e in enumerate(self.event_effects):
            p = float(d.events[row, j])
            contribution = e.coefficient * p
            value = f"probability {p:.1%}; {e.value:g} if it occurs"
            ratio = contribution if e.additive else math.exp(contribution)
            out.append(
                (abs(contribution), Driver(e.name, value, ratio, e.unit, e.source, e.certainty))
            )
        return [drv for _, drv in sorted(out, key=lambda t: -t[0])]


@dataclass(frozen=True)
class LogisticModel(Model):
    """A binary outcome: logit p = intercept + X·beta (+ event shifts, mixed over the events)."""

    horizon: str = ""
    marginal: Quantity | None = None
    auc_max: float = 1.0
    auc_source: str = ""
    intercept: float = 0.0

    @classmethod
    def from_entry(cls, name: str, entry: dict[str, Any]) -> LogisticModel:
        """The uncalibrated model (intercept 0) from its entry in the parameter file."""
        return cls(
            name=name,
            label=str(entry["label"]),
            effects=effects(entry.get("effects"), f"binary.{name}.effects"),
            horizon=str(entry["horizon"]),
            marginal=quantity(entry["marginal"], f"binary.{name}.marginal"),
            auc_max=float(entry["discrimination"]["auc_max"]),
            auc_source=str(entry["discrimination"]["source"]),
        )

    def calibrated(self, reference: pd.DataFrame, events: dict[str, FloatArray]) -> LogisticModel:
        """This model with the intercept that makes the reference population's mean risk equal
        the published marginal rate."""
        assert self.marginal is not None
        d = self.design(reference, events)
        a = solve_intercepts(
            d, self.beta[None], self.beta_events[None], np.array([self.marginal.value])
        )
        return LogisticModel(**{**_fields(self), "intercept": float(a[0])})

    def probability(self, design: Design) -> FloatArray:
        """Risk of each patient, shape (n,)."""
        return logistic_mixture(
            design, self.beta[None], self.beta_events[None], np.array([self.intercept])
        )[:, 0]

    def draws(
        self, reference: Design, seed: int = 0, m: int = DRAWS
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """m parameter draws: coefficients (m, k), event coefficients (m, e) and the intercepts
        (m,) re-solved on the reference population for each draw's marginal rate."""
        assert self.marginal is not None
        rng = np.random.default_rng(seed)
        b, be = self.draw_coefficients(rng, m)
        targets = draw_rate(self.marginal, rng, m)
        # start each draw from the calibrated intercept, shifted by its rate and coefficients
        start = (
            self.intercept
            + logit(targets)
            - logit(self.marginal.value)
            - (reference.x @ (b - self.beta[None, :]).T).mean(axis=0)
            - (reference.events.mean(axis=0) @ (be - self.beta_events[None, :]).T)
        )
        return b, be, solve_intercepts(reference, b, be, targets, start)

    @staticmethod
    def interval(
        design: Design, draws: tuple[FloatArray, FloatArray, FloatArray]
    ) -> tuple[FloatArray, FloatArray]:
        """95 % uncertainty interval of each patient's risk over the parameter draws, (n,), (n,)."""
        p = logistic_mixture(design, *draws)
        lo, hi = np.percentile(p, [2.5, 97.5], axis=1)
        return lo, hi


def _fields(model: Model) -> dict[str, Any]:
    skip = {"patient_effects", "event_effects"}
    return {k: getattr(model, k) for k in model.__dataclass_fields__ if k not in skip}


def draw_rate(q: Quantity, rng: np.random.Generator, m: int) -> FloatArray:
    """m draws of a published rate: logit-normal with its 95 % interval, shape (m,)."""
    lo, hi = (min(max(v, 1e-6), 1 - 1e-6) for v in q.interval)
    sd = (logit(hi) - logit(lo)) / (2 * Z95)
    return np.asarray(expit(logit(q.value) + sd * rng.standard_normal(m)), dtype=float)


def logistic_mixture(
    design: Design, beta: FloatArray, beta_events: FloatArray, intercepts: FloatArray
) -> FloatArray:
    """Risks for n patients under m coefficient sets, mixed over the events: shape (n, m).

    beta (m, k), beta_events (m, e), intercepts (m,)."""
    lp = design.x @ beta.T + intercepts[None, :]
    combos, w = event_mixture(design.events)
    out = np.zeros_like(lp)
    for c in range(combos.shape[0]):
        shift = combos[c] @ beta_events.T  # (m,)
        out += w[:, c, None] * expit(lp + shift[None, :])
    return out


def solve_intercepts(
    reference: Design,
    beta: FloatArray,
    beta_events: FloatArray,
    targets: FloatArray,
    start: FloatArray | None = None,
) -> FloatArray:
    """Intercepts (m,) that make the mean risk over the reference patients equal each target
    (Newton from ``start``, by default logit(target) less the mean linear predictor)."""
    xb = reference.x @ beta.T  # (n, m), fixed during the iterations
    if start is None:
        a = np.asarray(logit(targets), dtype=float) - xb.mean(axis=0)
    else:
        a = np.array(start, dtype=float)
    combos, w = event_mixture(reference.events)
    shifts = combos @ beta_events.T  # (c, m)
    active = np.arange(a.size)  # Newton on the draws that have not converged yet
    for _ in range(50):
        lp = xb[:, active] + a[None, active]
        p = np.zeros_like(lp)
        dp = np.zeros_like(lp)
        for c in range(combos.shape[0]):
            pc = expit(lp + shifts[c, active][None, :])
            p += w[:, c, None] * pc
            dp += w[:, c, None] * pc * (1 - pc)
        step = (p.mean(axis=0) - targets[active]) / dp.mean(axis=0)
        a[active] -= step
        active = active[np.abs(step) >= 1e-10]
        if active.size == 0:
            break
    return np.asarray(a, dtype=float)


@dataclass(frozen=True)
class LogNormalModel(Model):
    """A positive quantity: log Y ~ Normal(mu + X·beta (+ event shifts), sigma²).

    ``mu`` is set so the reference patient's mean (or the population's, for site profiles) is the
    published value."""

    unit: str = ""
    sigma: float = 0.5
    mu: float = 0.0

    def mean(self, design: Design) -> FloatArray:
        """Expected value of each patient, mixed over the events, shape (n,)."""
        return self.mean_draws(
            design, self.beta[None], self.beta_events[None], np.array([self.mu])
        )[:, 0]

    def mean_draws(
        self, design: Design, beta: FloatArray, beta_events: FloatArray, mu: FloatArray
    ) -> FloatArray:
        """Expected values under m parameter sets, shape (n, m)."""
        lp = design.x @ beta.T + mu[None, :] + 0.5 * self.sigma**2
        combos, w = event_mixture(design.events)
        out = np.zeros_like(lp)
        for c in range(combos.shape[0]):
            out += w[:, c, None] * np.exp(lp + (combos[c] @ beta_events.T)[None, :])
        return out

    def quantiles(self, design: Design, q: FloatArray, grid: int = 512) -> FloatArray:
        """Quantiles ``q`` (j,) of each patient's predictive distribution (a mixture of
        log-normals over the events), shape (n, j)."""
        from spinefuse.outcomes import normal as norm

        combos, w = event_mixture(design.events)
        centre = design.x @ self.beta + self.mu  # (n,)
        shifts = combos @ self.beta_events  # (c,)
        lo = centre + shifts.min() - 5 * self.sigma
        hi = centre + shifts.max() + 5 * self.sigma
        t = lo[:, None] + (hi - lo)[:, None] * np.linspace(0, 1, grid)[None, :]  # (n, g)
        z = (t[:, None, :] - centre[:, None, None] - shifts[None, :, None]) / self.sigma
        cdf = (w[:, :, None] * norm.cdf(z)).sum(axis=1)  # (n, g), increasing along g
        # first grid point where the cdf reaches q, refined linearly with the previous point
        j = np.clip((cdf[:, None, :] < q[None, :, None]).sum(axis=2), 1, grid - 1)  # (n, k)
        rows = np.arange(t.shape[0])[:, None]
        c0, c1 = cdf[rows, j - 1], cdf[rows, j]
        frac = np.clip((q[None, :] - c0) / np.maximum(c1 - c0, 1e-300), 0.0, 1.0)
        return np.asarray(np.exp(t[rows, j - 1] + frac * (t[rows, j] - t[rows, j - 1])), float)
