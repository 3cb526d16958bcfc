"""Patient-reported outcomes after fusion: ODI and back/leg pain trajectories and MCID chances.

12-month ODI is a normal regression on the baseline score and the published predictors (depression,
preoperative opioids, workers' compensation, smoking) and on the complications the patient may have
(infection, non-union, new deficit; mixed over their probabilities), clipped to 0-100. The intercept
is solved so the reference population's mean 12-month ODI is the published 29.5 (McGirt 2015). The
course from baseline follows a saturating curve, most of the change by 3 months (N2QOD 2016):

    ODI(t) = baseline - (baseline - ODI_12) * f(t),  f(t) = (1 - exp(-t/tau)) / (1 - exp(-12/tau))

so each patient's spread scales with f(t), and the chance of reaching the MCID at t is
P(ODI_12 <= baseline - MCID / f(t)). Pain follows the same curve from its own baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.stats import norm

from spinefuse.errors import ParameterError
from spinefuse.outcomes.covariates import REFERENCE_ODI
from spinefuse.outcomes.parameters import Effect, effects, outcome_parameters, quantity
from spinefuse.outcomes.population import reference_patients
from spinefuse.outcomes.risk import Design, FloatArray, Model, event_mixture

INSTRUMENTS: Final[tuple[str, ...]] = ("odi", "back_pain", "leg_pain")
BASELINE_COLUMN: Final[dict[str, str]] = {
    "odi": "baseline_odi",
    "back_pain": "back_pain_nrs",
    "leg_pain": "leg_pain_nrs",
}


def _section(name: str) -> dict[str, Any]:
    entry: dict[str, Any] = outcome_parameters()["pro"][name]
    return entry


def time_points_months() -> FloatArray:
    """The follow-up time points of every trajectory: baseline, 6 weeks, 3, 6, 12, 24 months."""
    return np.asarray(outcome_parameters()["pro"]["time_points_months"], dtype=float)


def recovery_fraction(months: FloatArray | float) -> FloatArray:
    """f(t): the share of the 12-month change reached by ``months`` (0 at baseline, 1 at 12)."""
    tau = float(_section("odi")["recovery_time_constant_months"]["value"])
    t = np.minimum(np.asarray(months, dtype=float), 12.0)
    return np.asarray((1 - np.exp(-t / tau)) / (1 - math.exp(-12.0 / tau)), dtype=float)


def clipped_normal_mean(mu: FloatArray, sigma: float, lo: float, hi: float) -> FloatArray:
    """E[clip(Y, lo, hi)] for Y ~ Normal(mu, sigma²)."""
    a, b = (lo - mu) / sigma, (hi - mu) / sigma
    inside = mu * (norm.cdf(b) - norm.cdf(a)) + sigma * (norm.pdf(a) - norm.pdf(b))
    return np.asarray(lo * norm.cdf(a) + hi * norm.sf(b) + inside, dtype=float)


@dataclass(frozen=True)
class ScoreModel(Model):
    """A 12-month score: Normal(centre + slope·(baseline - ref) + X·beta + event shifts, sd²),
    clipped to [0, top]. For pain, ``slope`` is 1 - the published improvement fraction and the
    predictor shifts are the ODI model's scaled by ``scale`` and centred on the population."""

    slope: float
    reference_baseline: float
    sd: float
    top: float
    mcid: float
    centre: float = 0.0
    scb: float | None = None
    scale: float = 1.0

    def location(self, design: Design, baseline: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Mean before events, shape (n,), and the event shift of each combination, with the
        combination weights: returns (mu (n, c), weights (n, c))."""
        base = self.centre + self.slope * (baseline - self.reference_baseline)
        base = base + self.scale * (design.x @ self.beta)
        combos, w = event_mixture(design.events)
        shifts = self.scale * (combos @ self.beta_events)
        return base[:, None] + shifts[None, :], w

    def mean_12m(self, design: Design, baseline: FloatArray) -> FloatArray:
        """Expected 12-month score per patient (clipped, mixed over events), shape (n,)."""
        mu, w = self.location(design, baseline)
        return np.asarray((w * clipped_normal_mean(mu, self.sd, 0.0, self.top)).sum(1), float)

    def mean_at(self, design: Design, baseline: FloatArray, months: FloatArray) -> FloatArray:
        """Expected score at each time, shape (n, t)."""
        m12 = self.mean_12m(design, baseline)
        f = recovery_fraction(months)
        return np.asarray(baseline[:, None] - (baseline - m12)[:, None] * f[None, :], float)

    def reach_probability(
        self, design: Design, baseline: FloatArray, threshold: float, months: FloatArray
    ) -> FloatArray:
        """P(improvement from baseline >= threshold) at each time, shape (n, t)."""
        mu, w = self.location(design, baseline)
        f = np.maximum(recovery_fraction(months), 1e-12)  # (t,)
        limit = baseline[:, None] - threshold / f[None, :]  # (n, t)
        z = (limit[:, None, :] - mu[:, :, None]) / self.sd  # (n, c, t)
        p = (w[:, :, None] * norm.cdf(z)).sum(axis=1)
        p = np.where(limit < 0.0, 0.0, p)
        return np.asarray(np.where(f[None, :] <= 1e-9, 0.0, p), dtype=float)

    def band(
        self, design: Design, baseline: FloatArray, months: FloatArray, q: tuple[float, ...]
    ) -> FloatArray:
        """Quantiles ``q`` of each patient's score at each time, shape (n, t, len(q))."""
        mu, w = self.location(design, baseline)
        f = recovery_fraction(months)
        grid = np.linspace(0.0, self.top, 401)
        # P(Y12 <= y) for clipped Y12, mixed over events: (n, g)
        cdf12 = (w[:, :, None] * norm.cdf((grid[None, None, :] - mu[:, :, None]) / self.sd)).sum(1)
        out = np.empty((len(baseline), len(f), len(q)))
        for j, qq in enumerate(q):
            idx = np.argmax(cdf12 >= qq, axis=1)
            y12 = grid[idx]  # (n,)
            out[:, :, j] = baseline[:, None] - (baseline[:, None] - y12[:, None]) * f[None, :]
        return out


def _additive(section: dict[str, Any], path: str) -> tuple[Effect, ...]:
    return effects(section.get("effects"), path, additive=True)


@lru_cache(maxsize=1)
def pro_models() -> dict[str, ScoreModel]:
    """The ODI, back-pain and leg-pain models, calibrated on the reference population."""
    from spinefuse.outcomes.complications import complication_probabilities

    ref = reference_patients()
    events = complication_probabilities(ref)
    odi = _section("odi")
    odi_effects = _additive(odi, "pro.odi.effects")
    raw = ScoreModel(
        name="odi",
        label=str(odi["label"]),
        effects=odi_effects,
        slope=float(odi["baseline_slope"]["value"]),
        reference_baseline=REFERENCE_ODI,
        sd=float(odi["residual_sd"]["value"]),
        top=100.0,
        mcid=float(odi["mcid"]["value"]),
        scb=float(odi["scb"]["value"]),
    )
    target = quantity(odi["mean_12m"], "pro.odi.mean_12m").value
    d = raw.design(ref, events)
    base = ref["baseline_odi"].to_numpy(float)

    def gap(c: float) -> float:
        m = ScoreModel(**{**_init(raw), "centre": c})
        return float(m.mean_12m(d, base).mean() - target)

    models = {"odi": ScoreModel(**{**_init(raw), "centre": brentq(gap, -50.0, 100.0)})}
    # Pain: the ODI predictors at 1/10 scale, centred so the population keeps the published gain.
    penalty = raw.scale * (d.x @ raw.beta)
    combos, w = event_mixture(d.events)
    penalty = penalty + (w * (combos @ raw.beta_events)[None, :]).sum(1)
    for name in ("back_pain", "leg_pain"):
        s = _section(name)
        scale = float(s["odi_to_nrs"]["value"])
        r = float(s["improvement_fraction_12m"]["value"])
        models[name] = ScoreModel(
            name=name,
            label=str(s["label"]),
            effects=odi_effects,
            slope=1.0 - r,
            reference_baseline=0.0,
            sd=float(s["residual_sd"]["value"]),
            top=10.0,
            centre=-scale * float(penalty.mean()),
            mcid=float(s["mcid"]["value"]),
            scale=scale,
        )
    return models


def _init(model: ScoreModel) -> dict[str, Any]:
    skip = {"patient_effects", "event_effects"}
    return {k: getattr(model, k) for k in model.__dataclass_fields__ if k not in skip}


def baselines(patients: pd.DataFrame, instrument: str) -> FloatArray:
    """Baseline scores of an instrument; missing pain scores take the population mean."""
    col = patients[BASELINE_COLUMN[instrument]].to_numpy(dtype=float)
    if instrument != "odi":
        fill = float(outcome_parameters()["reference_population"][f"{instrument}_nrs"]["mean"])
        col = np.where(np.isnan(col), fill, col)
    return np.asarray(col, dtype=float)


def odi_12m_and_mcid(
    patients: pd.DataFrame, events: dict[str, FloatArray]
) -> tuple[FloatArray, FloatArray]:
    """Expected 12-month ODI and the probability of reaching the ODI MCID (12.8) by 12 months,
    each shape (n,) — the batched path used by cohorts."""
    m = pro_models()["odi"]
    d = m.design(patients, events)
    base = baselines(patients, "odi")
    return m.mean_12m(d, base), m.reach_probability(d, base, m.mcid, np.array([12.0]))[:, 0]


def early_observation_sd() -> float:
    """Spread of an early (6-week, 3-month) ODI around the patient's eventual course, ODI points."""
    return float(_section("odi")["early_observation_sd"]["value"])


def odi_update(
    model: ScoreModel,
    design: Design,
    baseline: FloatArray,
    months: float,
    observed: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The 12-month ODI forecast updated with an ODI observed at ``months`` (0 < months < 12).

    The observation is the course plus early noise: ODI(t) = b - (b - ODI_12) f(t) + e,
    e ~ Normal(0, s²) (``early_observation_sd``); each event combination's normal prior on ODI_12
    is updated (conjugate) and re-weighted by how well it explains the observation. Returns the
    posterior mean and sd of the (unclipped) 12-month ODI and the probability of reaching the MCID
    by 12 months, each shape (n,)."""
    if not 0.0 < months < 12.0:
        raise ParameterError(
            f"months = {months!r}: an early ODI updates the forecast between surgery and 12 months"
        )
    if np.any((observed < 0) | (observed > 100)):
        raise ParameterError(f"observed ODI {observed!r}: the ODI lies in 0-100")
    mu, w = model.location(design, baseline)  # (n, c)
    f = float(recovery_fraction(months))
    s = early_observation_sd()
    shift = baseline * (1.0 - f)  # (n,)
    # marginal likelihood of the observation under each combination
    pred_sd = math.sqrt(f**2 * model.sd**2 + s**2)
    like = norm.pdf((observed[:, None] - shift[:, None] - f * mu) / pred_sd)
    post_w = w * like
    post_w = post_w / np.maximum(post_w.sum(axis=1, keepdims=True), 1e-300)
    precision = 1.0 / model.sd**2 + f**2 / s**2
    post_sd = 1.0 / math.sqrt(precision)
    post_mu = (mu / model.sd**2 + f * (observed - shift)[:, None] / s**2) / precision  # (n, c)
    mean = (post_w * post_mu).sum(axis=1)
    second = (post_w * (post_mu**2 + post_sd**2)).sum(axis=1)
    sd = np.sqrt(np.maximum(second - mean**2, 0.0))
    limit = baseline - model.mcid
    p_mcid = (post_w * norm.cdf((limit[:, None] - post_mu) / post_sd)).sum(axis=1)
    p_mcid = np.where(limit < 0.0, 0.0, p_mcid)
    return np.asarray(mean, float), np.asarray(sd, float), np.asarray(p_mcid, float)
