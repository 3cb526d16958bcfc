"""Refitting and recalibrating the outcome models on a site's registry of past patients.

A registry CSV has one row per operated patient with the patient-table columns
(``covariates.REQUIRED``, optionally ``covariates.OPTIONAL``) and any of the outcome columns of
:data:`REGISTRY_OUTCOMES`: binary outcomes as 0/1 (or true/false), ``length_of_stay_days`` in days
and ``odi_12m`` in ODI %. For each binary outcome present:

- ``recalibrate``: the published model is kept and a logistic regression of the outcome on the
  model's log-odds gives the calibration intercept and slope (1 and 0 when the model fits the site);
- ``refit``: the model's coefficients are re-estimated by maximum likelihood (statsmodels) on the
  same covariates, with 95 % intervals beside the published values.

Each reports AUC (scikit-learn), Brier score, calibration intercept and slope and, when asked, a
calibration plot (deciles of predicted risk against observed rates, PNG).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Final, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from spinefuse.errors import ParameterError
from spinefuse.outcomes.complications import GIVEN, OUTCOMES, complication_models
from spinefuse.outcomes.covariates import validate_patients
from spinefuse.outcomes.operative import with_operative_time
from spinefuse.outcomes.parameters import Effect
from spinefuse.outcomes.perioperative import stay_model
from spinefuse.outcomes.pro import baselines, diagnosis_codes, pro_models
from spinefuse.outcomes.risk import Design, FloatArray, LogisticModel, Model
from spinefuse.records import Record, write_atomic

REGISTRY_OUTCOMES: Final[tuple[str, ...]] = (*OUTCOMES, "length_of_stay_days", "odi_12m")
"""Outcome columns a registry may hold (any subset)."""


class Coefficient(Record):
    """One refitted coefficient beside the published value it replaces."""

    effect: str
    covariate: str
    published: float = Field(description="published coefficient (log odds ratio)")
    fitted: float | None = Field(description="None when the registry does not vary it")
    low: float | None = None
    high: float | None = None


class OutcomeFit(Record):
    """How one outcome model performs on (or is refitted to) a registry."""

    outcome: str
    mode: Literal["recalibrate", "refit"]
    n: int
    events: int
    observed_rate: float
    mean_predicted: float
    auc: float
    literature_auc_max: float
    brier: float
    calibration_intercept: float = Field(description="in the large; 0 when calibrated")
    calibration_slope: float = Field(description="1 when calibrated; < 1 when too extreme")
    recalibration_intercept: float = Field(
        description="a in logit(p_site) = a + slope * logit(p), used to recalibrate forecasts"
    )
    coefficients: list[Coefficient] = Field(default_factory=list)
    intercept: float | None = Field(default=None, description="refitted intercept")
    plot: str | None = Field(default=None, description="calibration plot PNG path")


class QuantityFit(Record):
    """How a continuous outcome model (stay, 12-month ODI) performs on, or is refitted to, a
    registry. Stay is fitted on the log scale (coefficients are log ratios), ODI in points."""

    outcome: str
    mode: Literal["recalibrate", "refit"]
    n: int
    observed_mean: float
    predicted_mean: float
    r2: float = Field(description="share of variance explained (log scale for stay)")
    rmse: float
    calibration_intercept: float
    calibration_slope: float = Field(description="observed on predicted; 1 when calibrated")
    coefficients: list[Coefficient] = Field(default_factory=list)
    intercept: float | None = None
    residual_sd: float | None = Field(default=None, description="refitted residual spread")
    plot: str | None = None


class RegistryReport(Record):
    """The fit of every outcome model a registry has data for."""

    source: str
    n: int
    fits: list[OutcomeFit]
    quantities: list[QuantityFit] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list, description="outcomes with no usable data")

    def fit(self, outcome: str) -> OutcomeFit:
        """The fit of one binary outcome by name."""
        for f in self.fits:
            if f.outcome == outcome:
                return f
        raise KeyError(f"no fit for {outcome!r}; fitted: {[f.outcome for f in self.fits]}")

    def recalibrate(self, outcome: str, p: FloatArray) -> FloatArray:
        """Published-model risks ``p`` of ``outcome`` recalibrated to this site (logistic
        intercept and slope); unchanged when the registry had no recalibration fit for it."""
        fit = next((f for f in self.fits if f.outcome == outcome and f.mode == "recalibrate"), None)
        if fit is None:
            return np.asarray(p, dtype=float)
        q = np.clip(np.asarray(p, dtype=float), 1e-12, 1 - 1e-12)
        z = fit.recalibration_intercept + fit.calibration_slope * np.log(q / (1 - q))
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=float)

    def stay_factor(self) -> float:
        """Ratio of the site's mean stay to the model's (1 without a stay recalibration)."""
        fit = next(
            (
                q
                for q in self.quantities
                if q.outcome == "length_of_stay_days" and q.mode == "recalibrate"
            ),
            None,
        )
        return 1.0 if fit is None else fit.observed_mean / fit.predicted_mean

    def quantity(self, outcome: str) -> QuantityFit:
        """The fit of one continuous outcome (``length_of_stay_days``, ``odi_12m``)."""
        for f in self.quantities:
            if f.outcome == outcome:
                return f
        raise KeyError(f"no fit for {outcome!r}; fitted: {[f.outcome for f in self.quantities]}")


def read_registry(path: str | Path) -> pd.DataFrame:
    """Read and check a registry CSV; errors name the file, the column and the row."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"{path}: no such registry file")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise ParameterError(f"{path}: not a readable CSV ({err})") from None
    return check_registry(df, str(path))


def check_registry(registry: pd.DataFrame, source: str = "registry") -> pd.DataFrame:
    """A validated copy of a registry table (patient columns and 0/1 outcome columns).

    A registry records what happened, not the healing stage's forecast: where
    ``nonunion_probability`` is missing, the observed ``nonunion`` (0/1) stands in for it, so the
    models that depend on non-union see the events the site saw."""
    df = with_operative_time(validate_patients(registry, source))
    for name in OUTCOMES:
        if name not in df.columns:
            continue
        col = df[name]
        if col.dtype == object:
            col = col.map(_binary_word)
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isnan(values) & ~np.isin(values, (0.0, 1.0))
        if bad.any() or np.isnan(values).all():
            i = int(np.flatnonzero(bad)[0]) if bad.any() else 0
            raise ParameterError(
                f"{source}: {name} = {registry[name].iloc[i]!r} in row {i}; a binary outcome "
                "column holds 0/1 (or true/false; empty when unknown)"
            )
        df[name] = values
    if "nonunion" in df.columns:
        given = df["nonunion_probability"].to_numpy(dtype=float)
        observed = df["nonunion"].to_numpy(dtype=float)
        df["nonunion_probability"] = np.where(np.isnan(given), observed, given)
    return df


_WORDS: Final[dict[str, float]] = {
    "true": 1.0,
    "false": 0.0,
    "1": 1.0,
    "0": 0.0,
    "1.0": 1.0,
    "0.0": 0.0,
}


def _binary_word(v: object) -> float:
    """0/1 from a registry cell (true/false/1/0); -1 marks an impossible value, NaN unknown."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return float("nan")
    return _WORDS.get(str(v).strip().lower(), -1.0)


def expected_auc(p: FloatArray) -> float:
    """The AUC a model reaches when its risks ``p`` are exactly right (outcomes drawn from them):
    the ceiling of its discrimination in that population."""
    p = np.sort(np.asarray(p, dtype=float))
    neg_below = np.cumsum(1 - p) - (1 - p)
    num = float((p * neg_below).sum())
    den = float(p.sum() * (1 - p).sum() - (p * (1 - p)).sum())
    return num / den


def calibration(y: FloatArray, p: FloatArray) -> tuple[float, float, float]:
    """Calibration of risks ``p`` on 0/1 outcomes ``y`` (logistic recalibration, statsmodels):
    the intercept in the large (slope fixed at 1), the slope, and the intercept that goes with
    that slope (logit y = a + slope * logit p)."""
    import statsmodels.api as sm

    lp = np.log(p / (1 - p))
    slope_fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    citl = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit()
    return float(citl.params[0]), float(slope_fit.params[1]), float(slope_fit.params[0])


def calibration_plot(
    y: FloatArray,
    p: FloatArray,
    title: str,
    path: Path,
    axis: tuple[str, str] = ("predicted risk", "observed rate"),
) -> Path:
    """Observed mean against mean prediction by decile of the prediction, written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(p)
    groups = np.array_split(order, 10)
    pred = np.array([p[g].mean() for g in groups])
    obs = np.array([y[g].mean() for g in groups])
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    top = float(max(pred.max(), obs.max()) * 1.1)
    low = min(0.0, float(min(pred.min(), obs.min())))
    ax.plot([low, top], [low, top], color="0.6", lw=1, label="perfect calibration")
    ax.plot(pred, obs, "o-", color="C0", label="deciles")
    ax.set_xlabel(axis[0])
    ax.set_ylabel(axis[1])
    ax.set_title(title)
    ax.set_xlim(low, top)
    ax.set_ylim(low, top)
    ax.legend(loc="upper left", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return write_atomic(path, buf.getvalue())


def _design(model: Model, df: pd.DataFrame, rows: np.ndarray) -> Design:
    """The model's covariates, with upstream events taken from the registry's observed columns
    where present (else from the models' probabilities)."""
    from spinefuse.outcomes.complications import complication_probabilities

    sub = df.loc[rows]
    probs = complication_probabilities(sub)
    events = {
        name: (sub[name].to_numpy(float) if name in sub.columns else probs[name])
        for name in model.events
    }
    return model.design(sub, events)


def fit_outcome(
    model: LogisticModel,
    df: pd.DataFrame,
    mode: Literal["recalibrate", "refit"],
    plot_dir: Path | None = None,
) -> OutcomeFit:
    """Recalibrate or refit one binary outcome model on the registry rows that record it."""
    import statsmodels.api as sm
    from sklearn.metrics import brier_score_loss, roc_auc_score

    y_all = df[model.name].to_numpy(dtype=float)
    rows = ~np.isnan(y_all)
    y = y_all[rows]
    d = _design(model, df, rows)
    coefficients: list[Coefficient] = []
    intercept = None
    if mode == "refit":
        x_all = np.column_stack([d.x, d.events])
        varies = x_all.std(axis=0) > 0  # a constant covariate (e.g. no >= 4-level fusions)
        x = x_all[:, varies]
        fit = sm.GLM(y, sm.add_constant(x, has_constant="add"), family=sm.families.Binomial()).fit()
        ci = np.asarray(fit.conf_int(0.05))
        column = np.cumsum(varies)  # index into the fit's parameters (0 is the intercept)
        effects = (*model.patient_effects, *model.event_effects)
        for j, e in enumerate(effects):
            k = int(column[j])
            coefficients.append(
                Coefficient(
                    effect=e.name,
                    covariate=e.covariate,
                    published=e.coefficient,
                    fitted=float(fit.params[k]) if varies[j] else None,
                    low=float(ci[k, 0]) if varies[j] else None,
                    high=float(ci[k, 1]) if varies[j] else None,
                )
            )
        intercept = float(fit.params[0])
        p = np.asarray(fit.predict(sm.add_constant(x, has_constant="add")), dtype=float)
    else:
        p = model.probability(d)
    p = np.clip(p, 1e-9, 1 - 1e-9)
    cal_int, cal_slope, joint = calibration(y, p)
    plot = None
    if plot_dir is not None:
        plot = str(
            calibration_plot(
                y, p, f"{model.label} ({mode})", plot_dir / f"calibration_{model.name}.png"
            )
        )
    return OutcomeFit(
        outcome=model.name,
        mode=mode,
        n=int(len(y)),
        events=int(y.sum()),
        observed_rate=float(y.mean()),
        mean_predicted=float(p.mean()),
        auc=float(roc_auc_score(y, p)),
        literature_auc_max=model.auc_max,
        brier=float(brier_score_loss(y, p)),
        calibration_intercept=cal_int,
        calibration_slope=cal_slope,
        recalibration_intercept=joint,
        coefficients=coefficients,
        intercept=intercept,
        plot=plot,
    )


def _coefficients(
    effects: tuple[Effect, ...], x: FloatArray, params: FloatArray, ci: FloatArray
) -> tuple[list[Coefficient], FloatArray]:
    """Coefficients beside the published ones; ``x`` columns that never vary are left out of
    the fit (None). Returns the coefficients and the mask of columns used."""
    varies = x.std(axis=0) > 0
    column = np.cumsum(varies)
    out = []
    for j, e in enumerate(effects):
        k = int(column[j])
        out.append(
            Coefficient(
                effect=e.name,
                covariate=e.covariate,
                published=e.coefficient,
                fitted=float(params[k]) if varies[j] else None,
                low=float(ci[k, 0]) if varies[j] else None,
                high=float(ci[k, 1]) if varies[j] else None,
            )
        )
    return out, varies


def fit_quantity(
    outcome: Literal["length_of_stay_days", "odi_12m"],
    df: pd.DataFrame,
    mode: Literal["recalibrate", "refit"],
    plot_dir: Path | None = None,
) -> QuantityFit:
    """Recalibrate or refit the stay (log-normal) or 12-month ODI (normal) model on the registry
    rows that record it."""
    import statsmodels.api as sm

    y_all = pd.to_numeric(df[outcome], errors="coerce").to_numpy(dtype=float)
    rows = ~np.isnan(y_all)
    sub = df.loc[rows]
    y = y_all[rows]
    if outcome == "length_of_stay_days":
        if (y <= 0).any():
            i = int(np.flatnonzero(y <= 0)[0])
            raise ParameterError(
                f"registry: length_of_stay_days = {y[i]} in row {i}: a stay is positive (days)"
            )
        target = np.log(y)
        offset = np.zeros(len(y))
        site = str(sub["site"].mode().iloc[0])
        lsm = stay_model(site)
        model: Model = lsm
        d = _design(model, df, rows)
        predicted = d.x @ lsm.beta + d.events @ lsm.beta_events + lsm.mu
        extra = np.zeros((len(y), 0))
        effects = (*model.patient_effects, *model.event_effects)
        axis = ("predicted log stay", "observed log stay")
    else:
        sm_odi = pro_models()["odi"]
        model = sm_odi
        d = _design(model, df, rows)
        base = baselines(sub, "odi")
        dx = diagnosis_codes(sub)
        target = y
        # the diagnoses' intercepts are kept as an offset; the refit estimates the rest
        offset = np.asarray(sm_odi.centre)[dx]
        predicted = sm_odi.mean_12m(d, base, dx)
        extra = (base - sm_odi.reference_baseline)[:, None]
        slope = Effect(
            "baseline",
            "baseline_odi",
            sm_odi.slope[0],
            (sm_odi.slope[0],) * 2,
            "ODI per baseline point",
            "outcome_parameters.yaml",
            "unverified",
            additive=True,
        )
        effects = (slope, *model.patient_effects, *model.event_effects)
        axis = ("predicted 12-month ODI", "observed 12-month ODI")
    coefficients: list[Coefficient] = []
    intercept = residual_sd = None
    if mode == "refit":
        x_all = np.column_stack([extra, d.x, d.events])
        varies = x_all.std(axis=0) > 0
        exog = sm.add_constant(x_all[:, varies], has_constant="add")
        fit = sm.OLS(target - offset, exog).fit()
        coefficients, _ = _coefficients(
            effects, x_all, np.asarray(fit.params), np.asarray(fit.conf_int(0.05))
        )
        intercept = float(fit.params[0])
        residual_sd = float(np.sqrt(fit.scale))
        predicted = np.asarray(fit.fittedvalues, dtype=float) + offset
    cal = sm.OLS(target, sm.add_constant(predicted, has_constant="add")).fit()
    resid = target - predicted
    plot = None
    if plot_dir is not None:
        plot = str(
            calibration_plot(
                target,
                predicted,
                f"{outcome} ({mode})",
                plot_dir / f"calibration_{outcome}.png",
                axis,
            )
        )
    return QuantityFit(
        outcome=outcome,
        mode=mode,
        n=int(len(y)),
        observed_mean=float(y.mean()),
        predicted_mean=float(
            np.exp(predicted + 0.5 * float(resid.var())).mean()
            if outcome == "length_of_stay_days"
            else predicted.mean()
        ),
        r2=float(1.0 - resid.var() / target.var()),
        rmse=float(np.sqrt((resid**2).mean())),
        calibration_intercept=float(cal.params[0]),
        calibration_slope=float(cal.params[1]),
        coefficients=coefficients,
        intercept=intercept,
        residual_sd=residual_sd,
        plot=plot,
    )


def fit_registry(
    registry: pd.DataFrame,
    mode: Literal["recalibrate", "refit"] = "recalibrate",
    plot_dir: Path | None = None,
    source: str = "registry",
    min_events: int = 10,
) -> RegistryReport:
    """Recalibrate or refit every binary outcome model the registry has enough events for."""
    if mode not in ("recalibrate", "refit"):
        raise ParameterError(f"mode = {mode!r}: use recalibrate or refit")
    df = check_registry(registry, source)
    models = complication_models()
    fits, skipped = [], []
    for name in OUTCOMES:
        if name not in df.columns or name in GIVEN:
            continue
        y = df[name].to_numpy(dtype=float)
        y = y[~np.isnan(y)]
        if y.sum() < min_events or (len(y) - y.sum()) < min_events:
            skipped.append(f"{name}: {int(y.sum())} events in {len(y)} rows (< {min_events})")
            continue
        fits.append(fit_outcome(models[name], df, mode, plot_dir))
    quantities = []
    for q in ("length_of_stay_days", "odi_12m"):
        if q in df.columns and pd.to_numeric(df[q], errors="coerce").notna().sum() >= 30:
            quantities.append(fit_quantity(q, df, mode, plot_dir))
    if not fits and not quantities:
        raise ParameterError(
            f"{source}: no outcome column with at least {min_events} events and non-events; "
            f"outcome columns are {', '.join(REGISTRY_OUTCOMES)}"
        )
    return RegistryReport(
        source=source, n=len(df), fits=fits, quantities=quantities, skipped=skipped
    )
