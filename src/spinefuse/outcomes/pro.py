"""Patient-reported outcomes after fusion: ODI, back and leg pain and the EQ-5D index, their
courses from baseline to 24 months by diagnosis, and MCID chances that follow from them.

12-month ODI is a normal regression on the baseline score, the diagnosis, the published
predictors (revision, depression, preoperative opioids, workers' compensation, smoking, BMI, ASA)
and the complications the patient may have (infection, the healing stage's non-union, a new
deficit; mixed over their probabilities), clipped to 0-100. Each diagnosis' intercept is solved
so that the reference population's patients of that diagnosis improve by the published mean
change (degenerative spondylolisthesis 23.5 points in SPORT, chronic low back pain without a
structural lesion 12.5 in Fritzell 2001, …). The course from baseline reaches a share of the
12-month change that grows as in the registries (half at 6 weeks, three quarters at 3 months)
and gains a little more by 24 months:

    ODI(t) = baseline - (baseline - ODI_12) * f(t)
    f(t) = (1 - exp(-t/tau)) / (1 - exp(-12/tau))  (t <= 12),  rising linearly to g at 24

so each patient's spread scales with f(t). An early ODI (0 < t < 12 months) also strays from
that course by its own deviation e ~ Normal(0, s²) (``early_observation_sd``: 3-month ODIs lie
11.9 ± 10.8 points from the 12-month ones in N2QOD), so the chance of having reached the MCID at
t is P(f(t)·(baseline - ODI_12) - e >= MCID), and the chance of having reached it by t *and*
still at 12 months (an "early responder") is the joint probability of both. Pain follows the
same course from its own baseline with the diagnosis' improvement fraction (without the early
deviation, measured for the ODI only); the EQ-5D index moves with the ODI change (a linear
mapping, baseline from the baseline ODI unless given) plus its own noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import brentq

from spinefuse.errors import ParameterError
from spinefuse.outcomes import normal as norm
from spinefuse.outcomes.calibration import ahead
from spinefuse.outcomes.covariates import DIAGNOSES, REFERENCE_ODI
from spinefuse.outcomes.parameters import Effect, effects, outcome_parameters, quantity
from spinefuse.outcomes.population import reference_patients
from spinefuse.outcomes.risk import Design, FloatArray, Model, event_mixture

INSTRUMENTS: Final[tuple[str, ...]] = ("odi", "back_pain", "leg_pain")
"""The score models (ODI and pain); the EQ-5D index follows the ODI (:class:`Eq5dModel`)."""
BASELINE_COLUMN: Final[dict[str, str]] = {
    "odi": "baseline_odi",
    "back_pain": "back_pain_nrs",
    "leg_pain": "leg_pain_nrs",
}
EQ5D_FLOOR: Final = -0.594
"""Lowest EQ-5D-3L index of the UK TTO value set (state 33333)."""
_LEGENDRE: Final = np.polynomial.legendre.leggauss(48)
"""Gauss-Legendre nodes and weights on [-1, 1] for the early-response integral."""


def _section(name: str) -> dict[str, Any]:
    entry: dict[str, Any] = outcome_parameters()["pro"][name]
    return entry


def time_points_months() -> FloatArray:
    """The follow-up time points of every trajectory: baseline, 6 weeks, 3, 6, 12, 24 months."""
    return np.asarray(outcome_parameters()["pro"]["time_points_months"], dtype=float)


def recovery_fraction(months: FloatArray | float) -> FloatArray:
    """f(t): the share of the 12-month change reached by ``months`` (0 at baseline, 1 at 12,
    the published 24-month ratio at 24, linear in between)."""
    course = _section("course")
    tau = float(course["recovery_time_constant_months"]["value"])
    late = float(course["gain_24_over_12"]["value"])
    t = np.asarray(months, dtype=float)
    early = (1 - np.exp(-np.minimum(t, 12.0) / tau)) / (1 - math.exp(-12.0 / tau))
    after = 1.0 + (late - 1.0) * np.clip((t - 12.0) / 12.0, 0.0, 1.0)
    return np.asarray(np.where(t <= 12.0, early, after), dtype=float)


def clipped_normal_mean(mu: FloatArray, sigma: float, lo: float, hi: float) -> FloatArray:
    """E[clip(Y, lo, hi)] for Y ~ Normal(mu, sigma²)."""
    a, b = (lo - mu) / sigma, (hi - mu) / sigma
    inside = mu * (norm.cdf(b) - norm.cdf(a)) + sigma * (norm.pdf(a) - norm.pdf(b))
    return np.asarray(lo * norm.cdf(a) + hi * norm.sf(b) + inside, dtype=float)


def diagnosis_codes(patients: pd.DataFrame) -> NDArray[np.intp]:
    """Each row's diagnosis as an index into :data:`DIAGNOSES`, shape (n,)."""
    col = patients["diagnosis"] if "diagnosis" in patients.columns else None
    if col is None:
        return np.full(len(patients), DIAGNOSES.index("unspecified"), dtype=np.intp)
    lookup = {d: i for i, d in enumerate(DIAGNOSES)}
    try:
        return np.array([lookup[str(d)] for d in col], dtype=np.intp)
    except KeyError as err:
        raise ParameterError(
            f"diagnosis {err.args[0]!r}: use one of {', '.join(DIAGNOSES)}"
        ) from None


@dataclass(frozen=True)
class ScoreModel(Model):
    """A 12-month score: Normal(centre[dx] + slope[dx]·(baseline - ref) + scale·X·beta + event
    shifts, sd²), clipped to [0, top]. For pain ``slope`` is 1 - the diagnosis' published
    improvement fraction and the predictor shifts are the ODI model's scaled by ``scale``."""

    slope: tuple[float, ...]
    reference_baseline: float
    sd: float
    top: float
    mcid: float
    centre: tuple[float, ...] = (0.0,) * len(DIAGNOSES)
    scb: float | None = None
    scale: float = 1.0
    early_sd: float = 0.0

    def early_spread(self, months: FloatArray) -> FloatArray:
        """The early deviation's sd at each time: ``early_sd`` strictly between surgery and 12
        months, 0 at baseline and from 12 months on (the 12-month score is the outcome)."""
        t = np.asarray(months, dtype=float)
        return np.asarray(np.where((t > 0.0) & (t < 12.0), self.early_sd, 0.0), dtype=float)

    def location(
        self, design: Design, baseline: FloatArray, dx: NDArray[np.intp]
    ) -> tuple[FloatArray, FloatArray]:
        """Mean of each event combination, (n, c), and the combinations' weights, (n, c)."""
        slope = np.asarray(self.slope)[dx]
        base = np.asarray(self.centre)[dx] + slope * (baseline - self.reference_baseline)
        base = base + self.scale * (design.x @ self.beta)
        combos, w = event_mixture(design.events)
        shifts = self.scale * (combos @ self.beta_events)
        return base[:, None] + shifts[None, :], w

    def mean_12m(self, design: Design, baseline: FloatArray, dx: NDArray[np.intp]) -> FloatArray:
        """Expected 12-month score per patient (clipped, mixed over events), shape (n,)."""
        mu, w = self.location(design, baseline, dx)
        return np.asarray((w * clipped_normal_mean(mu, self.sd, 0.0, self.top)).sum(1), float)

    def mean_at(
        self, design: Design, baseline: FloatArray, dx: NDArray[np.intp], months: FloatArray
    ) -> FloatArray:
        """Expected score at each time, shape (n, t), clipped to the scale."""
        m12 = self.mean_12m(design, baseline, dx)
        f = recovery_fraction(months)
        out = baseline[:, None] - (baseline - m12)[:, None] * f[None, :]
        return np.asarray(np.clip(out, 0.0, self.top), float)

    def reach_probability(
        self,
        design: Design,
        baseline: FloatArray,
        dx: NDArray[np.intp],
        threshold: float,
        months: FloatArray,
    ) -> FloatArray:
        """P(improvement from baseline >= threshold) at each time, shape (n, t): the improvement
        at t is f(t)·(baseline - ODI_12) less the early deviation."""
        mu, w = self.location(design, baseline, dx)
        f = np.maximum(recovery_fraction(months), 1e-12)  # (t,)
        s = self.early_spread(months)  # (t,)
        spread = np.sqrt((f * self.sd) ** 2 + s**2)  # (t,)
        gain = f[None, None, :] * (baseline[:, None, None] - mu[:, :, None]) - threshold
        p = (w[:, :, None] * norm.cdf(gain / spread[None, None, :])).sum(axis=1)  # (n, t)
        limit = baseline[:, None] - threshold / f[None, :]  # (n, t)
        # Without the early deviation the 12-month score would have to fall below 0; with it, no
        # score can improve by more than its baseline.
        impossible = np.where(s[None, :] > 0.0, (baseline < threshold)[:, None], limit < 0.0)
        p = np.where(impossible, 0.0, p)
        return np.asarray(np.where(f[None, :] <= 1e-9, 0.0, p), dtype=float)

    def early_response_probability(
        self,
        design: Design,
        baseline: FloatArray,
        dx: NDArray[np.intp],
        threshold: float,
        months: float,
    ) -> FloatArray:
        """P(improvement >= threshold at ``months`` and again at 12 months), shape (n,): the
        registries' "early responders" (reached the MCID by 3 months and kept it)."""
        if not 0.0 < months < 12.0:
            raise ParameterError(f"months = {months!r}: an early response lies before 12 months")
        mu, w = self.location(design, baseline, dx)  # (n, c)
        f = float(recovery_fraction(months))
        s = float(self.early_spread(np.array([months]))[0])
        m = baseline[:, None] - mu  # mean 12-month improvement, (n, c)
        if s <= 0.0:
            p = (w * norm.sf((max(threshold, threshold / f) - m) / self.sd)).sum(axis=1)
        else:
            # integral over the 12-month improvement X = m + sd·z >= threshold of
            # phi(z)·P(f·X - e >= threshold), by Gauss-Legendre on the normal's support
            lo = np.maximum((threshold - m) / self.sd, -8.0)
            hi = np.maximum(lo, 0.0) + 8.0
            x, wq = _LEGENDRE
            z = lo[..., None] + (hi - lo)[..., None] * (x + 1.0) / 2.0  # (n, c, k)
            inner = norm.pdf(z) * norm.cdf((f * (m[..., None] + self.sd * z) - threshold) / s)
            p = (w * ((hi - lo) / 2.0 * (inner * wq).sum(axis=-1))).sum(axis=1)
        return np.asarray(np.where(baseline < threshold, 0.0, np.clip(p, 0.0, 1.0)), float)

    def band(
        self,
        design: Design,
        baseline: FloatArray,
        dx: NDArray[np.intp],
        months: FloatArray,
        q: tuple[float, ...],
    ) -> FloatArray:
        """Quantiles ``q`` of each patient's score at each time, shape (n, t, len(q))."""
        mu, w = self.location(design, baseline, dx)
        f = recovery_fraction(months)
        s = self.early_spread(months)
        grid = np.linspace(0.0, self.top, 401)
        cdf12 = (w[:, :, None] * norm.cdf((grid[None, None, :] - mu[:, :, None]) / self.sd)).sum(1)
        out = np.empty((len(baseline), len(f), len(q)))
        for j, qq in enumerate(q):
            y12 = _quantile(grid, cdf12, qq)  # (n,)
            value = baseline[:, None] - (baseline[:, None] - y12[:, None]) * f[None, :]
            out[:, :, j] = np.clip(value, 0.0, self.top)
        for i in np.flatnonzero(s > 0.0):
            # an early score: mixture of Normal((1 - f)·b + f·mu, f²sd² + s²), clipped
            centre = (1.0 - f[i]) * baseline[:, None] + f[i] * mu  # (n, c)
            spread = math.sqrt((f[i] * self.sd) ** 2 + s[i] ** 2)
            cdf = (w[:, :, None] * norm.cdf((grid - centre[:, :, None]) / spread)).sum(1)
            for j, qq in enumerate(q):
                out[:, i, j] = _quantile(grid, cdf, qq)
        return out


def _quantile(grid: FloatArray, cdf: FloatArray, q: float) -> FloatArray:
    """The first grid value where each row's cdf reaches q (the grid's top when it never does:
    the mass above the scale's top sits at the top)."""
    reached = cdf >= q
    return np.asarray(np.where(reached.any(axis=1), grid[np.argmax(reached, axis=1)], grid[-1]))


@dataclass(frozen=True)
class Eq5dModel:
    """The EQ-5D index course from the ODI course: EQ(t) = EQ_0 + k·f(t)·(ODI_0 - ODI_12) +
    f(t)·e, e ~ Normal(0, residual_sd²), clipped to the value set's range; EQ_0 is the
    patient's baseline index, else ``intercept - k·ODI_0``."""

    label: str
    intercept: float
    per_odi_point: float
    residual_sd: float
    mcid: float

    def baseline(self, patients: pd.DataFrame) -> FloatArray:
        """Each patient's baseline index: given, else mapped from the baseline ODI."""
        odi = patients["baseline_odi"].to_numpy(float)
        mapped = np.clip(self.intercept - self.per_odi_point * odi, EQ5D_FLOOR, 1.0)
        given = (
            patients["baseline_eq5d"].to_numpy(float)
            if "baseline_eq5d" in patients.columns
            else np.full(len(patients), np.nan)
        )
        return np.asarray(np.where(np.isnan(given), mapped, given), dtype=float)

    def change_distribution(
        self, odi: ScoreModel, design: Design, odi_base: FloatArray, dx: NDArray[np.intp]
    ) -> tuple[FloatArray, float, FloatArray]:
        """Mean 12-month index change of each event combination (n, c), its sd, and weights."""
        mu, w = odi.location(design, odi_base, dx)
        mean = self.per_odi_point * (odi_base[:, None] - mu)
        sd = math.sqrt((self.per_odi_point * odi.sd) ** 2 + self.residual_sd**2)
        return mean, sd, w

    def mean_at(
        self,
        odi: ScoreModel,
        design: Design,
        odi_base: FloatArray,
        dx: NDArray[np.intp],
        eq_base: FloatArray,
        months: FloatArray,
    ) -> FloatArray:
        """Expected index at each time, shape (n, t) (clipped to the value set's range)."""
        mean, sd, w = self.change_distribution(odi, design, odi_base, dx)
        f = recovery_fraction(months)
        out = np.empty((len(eq_base), len(f)))
        for j, fj in enumerate(f):
            if fj <= 1e-9:
                out[:, j] = eq_base
                continue
            level = eq_base[:, None] + fj * mean
            clipped = clipped_normal_mean(level, fj * sd, EQ5D_FLOOR, 1.0)
            out[:, j] = (w * clipped).sum(axis=1)
        return out

    def band(
        self,
        odi: ScoreModel,
        design: Design,
        odi_base: FloatArray,
        dx: NDArray[np.intp],
        eq_base: FloatArray,
        months: FloatArray,
        q: tuple[float, ...],
    ) -> FloatArray:
        """Quantiles ``q`` of the index at each time, shape (n, t, len(q))."""
        mean, sd, w = self.change_distribution(odi, design, odi_base, dx)
        grid = np.linspace(-1.5, 1.5, 601)
        cdf = (w[:, :, None] * norm.cdf((grid[None, None, :] - mean[:, :, None]) / sd)).sum(1)
        f = recovery_fraction(months)
        out = np.empty((len(eq_base), len(f), len(q)))
        for j, qq in enumerate(q):
            change = grid[np.argmax(cdf >= qq, axis=1)]  # 12-month change quantile, (n,)
            value = eq_base[:, None] + change[:, None] * f[None, :]
            out[:, :, j] = np.clip(value, EQ5D_FLOOR, 1.0)
        return out

    def reach_probability(
        self,
        odi: ScoreModel,
        design: Design,
        odi_base: FloatArray,
        dx: NDArray[np.intp],
        eq_base: FloatArray,
        months: FloatArray,
    ) -> FloatArray:
        """P(index gain >= MCID) at each time, shape (n, t); 0 where the MCID cannot fit
        under full health."""
        mean, sd, w = self.change_distribution(odi, design, odi_base, dx)
        f = recovery_fraction(months)
        out = np.zeros((len(eq_base), len(f)))
        for j, fj in enumerate(f):
            if fj <= 1e-9:
                continue
            z = (mean - self.mcid / fj) / sd
            out[:, j] = (w * norm.cdf(z)).sum(axis=1)
        return np.asarray(np.where((eq_base + self.mcid > 1.0)[:, None], 0.0, out), float)


def _additive(section: dict[str, Any], path: str) -> tuple[Effect, ...]:
    return effects(section.get("effects"), path, additive=True)


def _init(model: ScoreModel) -> dict[str, Any]:
    skip = {"patient_effects", "event_effects"}
    return {k: getattr(model, k) for k in model.__dataclass_fields__ if k not in skip}


def _centre_gap(
    c: float, raw: ScoreModel, k: int, design: Design, baseline: FloatArray, target: float
) -> float:
    """Mean 12-month change of diagnosis ``k``'s patients with centre ``c``, less the target."""
    centre = tuple(c if j == k else 0.0 for j in range(len(DIAGNOSES)))
    m = ScoreModel(**{**_init(raw), "centre": centre})
    codes = np.full(len(baseline), k, dtype=np.intp)
    return float((m.mean_12m(design, baseline, codes) - baseline).mean() - target)


def _by_diagnosis(section: dict[str, Any], key: str, path: str) -> tuple[float, ...]:
    table = section[key]
    missing = [d for d in DIAGNOSES if d not in table]
    if missing:
        raise ParameterError(f"outcome_parameters.yaml: {path}.{key} lacks {missing}")
    return tuple(quantity(table[d], f"{path}.{key}.{d}").value for d in DIAGNOSES)


@lru_cache(maxsize=1)
def pro_models() -> dict[str, ScoreModel]:
    """The ODI, back-pain and leg-pain models, calibrated on the reference population."""
    return ahead("pro_models", _pro_models)


def _pro_models() -> dict[str, ScoreModel]:
    from spinefuse.outcomes.complications import complication_probabilities

    ref = reference_patients()
    events = complication_probabilities(ref)
    dx = diagnosis_codes(ref)
    odi = _section("odi")
    odi_effects = _additive(odi, "pro.odi.effects")
    slope = float(odi["baseline_slope"]["value"])
    raw = ScoreModel(
        name="odi",
        label=str(odi["label"]),
        effects=odi_effects,
        slope=(slope,) * len(DIAGNOSES),
        reference_baseline=REFERENCE_ODI,
        sd=float(odi["residual_sd"]["value"]),
        top=100.0,
        mcid=float(odi["mcid"]["value"]),
        scb=float(odi["scb"]["value"]),
    )
    targets = _by_diagnosis(odi, "change_12m", "pro.odi")
    d = raw.design(ref, events)
    base = ref["baseline_odi"].to_numpy(float)
    centres = []
    for k, target in enumerate(targets):
        # "unspecified" is the population mix: calibrated on every reference patient
        rows = dx == k if DIAGNOSES[k] != "unspecified" else np.ones(len(ref), dtype=bool)
        sub = Design(d.x[rows], d.events[rows])

        centres.append(brentq(_centre_gap, -80.0, 80.0, args=(raw, k, sub, base[rows], target)))
    models = {
        "odi": ScoreModel(
            **{**_init(raw), "centre": tuple(centres), "early_sd": early_observation_sd()}
        )
    }
    # Pain: the ODI predictors at 1/10 scale, centred so the population keeps the published gain.
    penalty = raw.scale * (d.x @ raw.beta)
    combos, w = event_mixture(d.events)
    penalty = penalty + (w * (combos @ raw.beta_events)[None, :]).sum(1)
    for name in ("back_pain", "leg_pain"):
        s = _section(name)
        scale = float(s["odi_to_nrs"]["value"])
        fractions = _by_diagnosis(s, "improvement_fraction_12m", f"pro.{name}")
        models[name] = ScoreModel(
            name=name,
            label=str(s["label"]),
            effects=odi_effects,
            slope=tuple(1.0 - r for r in fractions),
            reference_baseline=0.0,
            sd=float(s["residual_sd"]["value"]),
            top=10.0,
            centre=(-scale * float(penalty.mean()),) * len(DIAGNOSES),
            mcid=float(s["mcid"]["value"]),
            scale=scale,
        )
    return models


@lru_cache(maxsize=1)
def eq5d_model() -> Eq5dModel:
    """The EQ-5D index course model (UK TTO value set scale)."""
    s = _section("eq5d")
    return Eq5dModel(
        label=str(s["label"]),
        intercept=quantity(s["intercept"], "pro.eq5d.intercept").value,
        per_odi_point=quantity(s["per_odi_point"], "pro.eq5d.per_odi_point").value,
        residual_sd=quantity(s["residual_sd"], "pro.eq5d.residual_sd").value,
        mcid=float(s["mcid"]["value"]),
    )


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
    dx = diagnosis_codes(patients)
    mcid = m.reach_probability(d, base, dx, m.mcid, np.array([12.0]))[:, 0]
    return m.mean_12m(d, base, dx), mcid


def early_observation_sd() -> float:
    """Spread of an early (6-week, 3-month) ODI around the patient's eventual course, ODI points."""
    return float(_section("odi")["early_observation_sd"]["value"])


def odi_update(
    model: ScoreModel,
    design: Design,
    baseline: FloatArray,
    dx: NDArray[np.intp],
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
    mu, w = model.location(design, baseline, dx)  # (n, c)
    f = float(recovery_fraction(months))
    s = early_observation_sd()
    shift = baseline * (1.0 - f)  # (n,)
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
