"""The healing stage's literature and calibration constants, read from
``spinefuse/data/healing_parameters.yaml`` (each entry there carries its source and certainty)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spinefuse.datafiles import load_yaml, read_yaml_file
from spinefuse.errors import ParameterError

SCHEMA = "spinefuse/healing-parameters@1"
TISSUES = ("granulation", "fibrous", "cartilage", "immature_bone", "mature_bone")
"""Order of the tissue axis of every fraction array."""
REGIONS = ("interbody", "posterolateral")
"""Order of the graft-region axis."""
LOAD_CASES = ("standing", "walking", "flexion", "extension", "lateral_bending", "axial_rotation")
"""The mechanics' fusion load cases, in the order of its response arrays."""
DAYS_PER_MONTH = 365.25 / 12.0
"""Days in a mean calendar month."""
GRAFTS = ("local_autograft", "iliac_crest_autograft", "allograft", "dbm", "ceramic", "rhbmp2")
RATE_NAMES = (
    "granulation_to_fibrous",
    "granulation_to_cartilage",
    "granulation_to_immature_bone",
    "fibrous_to_cartilage",
    "fibrous_to_immature_bone",
    "cartilage_to_immature_bone",
    "immature_to_mature_bone",
    "bone_to_fibrous",
    "bone_resorption",
)


@dataclass(frozen=True)
class RodMaterial:
    """Basquin S-N constants of a rod material: amplitude = coefficient * (2N)^exponent."""

    fatigue_coefficient_mpa: float
    basquin_exponent: float
    ultimate_strength_mpa: float


@dataclass(frozen=True)
class HealingParameters:
    """Every constant of the healing stage, in spinefuse units (days, MPa, mm, µm/s)."""

    source: str
    # mechano-regulation
    shear_strain_ref: float
    fluid_velocity_ref_um_s: float
    thresholds: tuple[float, float, float, float]  # fibrous, cartilage, immature, resorption
    band_width: float
    ch_strain_intramembranous: float
    ch_strain_endochondral: float
    ch_pressure_mpa: float
    ch_pressure_per_strain_mpa: float
    # tissue
    modulus_mpa: NDArray[np.float64]  # (5,) in TISSUES order
    averaging_days: float
    rates_per_day: Mapping[str, float]
    bridging_bone_fraction: float
    fusion_state_exponent: float
    # regions, in REGIONS order
    region_strain_factor: NDArray[np.float64]
    region_bed_factor: NDArray[np.float64]
    region_stiffness_share: NDArray[np.float64]
    # activity
    cycles_per_day: NDArray[np.float64]  # (6,) in LOAD_CASES order
    stimulus_exponent: float
    restricted_cases: tuple[str, ...]
    restriction_days: float
    restricted_fraction: float
    walking_ramp_days: float
    walking_initial_fraction: float
    # biology
    graft_multiplier: Mapping[str, float]
    graft_compromised_share: Mapping[str, float]  # grafts whose beds fail at their own rate
    graft_resorption: Mapping[str, tuple[float, float]]  # interbody (share, days) held back
    graft_interbody_multiplier: Mapping[str, float]  # grafts that act otherwise in the disc space
    smoking_multiplier: Mapping[str, float]
    smoking_compromised_ratio: Mapping[str, float]  # multiplies the compromised-bed share
    diabetes_multiplier: Mapping[str, float]
    nsaids_multiplier: float
    age_reference_years: float
    age_multiplier_per_year: float
    levels_multiplier: float
    osteoporosis_multiplier: float
    subsidence_scale_mm: float
    # ensemble
    biology_log_sd: float
    compromised_bed_share: float
    compromised_bed_rate: float
    load_log_sd: float
    members_default: int
    dt_days: float
    # non-union
    motion_threshold_deg: float
    assess_month: float
    # subsidence
    hu_density_intercept: float
    hu_density_slope: float
    yield_coefficient_mpa: float
    yield_exponent: float
    endplate_factor: float
    peak_load_factor: float
    settlement_compliance_mm: float
    max_settlement_mm: float
    settlement_time_constant_days: float
    subsidence_threshold_mm: float
    yield_log_sd: float
    fallback_hu: Mapping[str, float]  # normal, osteopenia, osteoporosis
    # fatigue
    cycles_per_year: float
    rods: Mapping[str, RodMaterial]
    life_log10_sd: float


class _Reader:
    """Pulls values out of the nested YAML mapping, naming the key path in every error."""

    def __init__(self, data: Mapping[str, Any], source: str) -> None:
        self.data = data
        self.source = source

    def get(self, path: str) -> Any:
        node: Any = self.data
        for key in path.split("."):
            if not isinstance(node, Mapping) or key not in node:
                raise ParameterError(
                    f"{self.source}: missing entry '{path}'; restore it from the packaged "
                    "healing_parameters.yaml"
                )
            node = node[key]
        return node

    def num(self, path: str, lo: float = -np.inf, hi: float = np.inf) -> float:
        value = self.get(path)
        if isinstance(value, Mapping):
            value = value.get("value")
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"{self.source}: '{path}' = {value!r} is not a number") from None
        if not lo <= x <= hi:
            raise ParameterError(f"{self.source}: '{path}' = {x} is outside [{lo}, {hi}]")
        return x

    def table(self, path: str, keys: tuple[str, ...], lo: float = 0.0) -> dict[str, float]:
        return {k: self.num(f"{path}.{k}", lo=lo) for k in keys}


def parameters_from_mapping(data: Any, source: str = "healing parameters") -> HealingParameters:
    """Validate a parsed parameter file and convert it to :class:`HealingParameters`."""
    if not isinstance(data, Mapping):
        raise ParameterError(f"{source}: expected a mapping of sections, got {type(data).__name__}")
    if data.get("schema") != SCHEMA:
        raise ParameterError(
            f"{source}: schema = {data.get('schema')!r}; this spinefuse reads {SCHEMA!r}"
        )
    r = _Reader(data, source)
    lp = "mechanoregulation.lacroix_prendergast"
    ch = "mechanoregulation.claes_heigele"
    thresholds = tuple(
        r.num(f"{lp}.thresholds.{k}", lo=0.0)
        for k in ("fibrous", "cartilage", "immature_bone", "resorption")
    )
    if not thresholds[0] > thresholds[1] > thresholds[2] > thresholds[3] > 0:
        raise ParameterError(
            f"{source}: '{lp}.thresholds' = {thresholds} must decrease strictly from fibrous to "
            "resorption and stay positive"
        )
    rates = r.table("tissue.rates_per_day", RATE_NAMES)
    if max(rates.values()) > 0.5:
        raise ParameterError(
            f"{source}: 'tissue.rates_per_day' has a rate above 0.5/day ({max(rates.values())}); "
            "daily explicit steps need rates well below 1/day"
        )
    act = "activity"
    restricted = tuple(str(c) for c in r.get(f"{act}.restricted_cases"))
    for c in restricted:
        if c not in LOAD_CASES:
            raise ParameterError(
                f"{source}: '{act}.restricted_cases' names {c!r}; use load cases {LOAD_CASES}"
            )
    fat = "fatigue.rod"
    rods = {
        m: RodMaterial(
            fatigue_coefficient_mpa=r.num(f"{fat}.{m}.fatigue_coefficient_mpa", lo=1.0),
            basquin_exponent=r.num(f"{fat}.{m}.basquin_exponent", lo=-0.5, hi=-0.01),
            ultimate_strength_mpa=r.num(f"{fat}.{m}.ultimate_strength_mpa", lo=1.0),
        )
        for m in ("titanium", "cobalt_chrome")
    }
    bio = "biology"
    return HealingParameters(
        source=source,
        shear_strain_ref=r.num(f"{lp}.shear_strain_ref", lo=1e-6),
        fluid_velocity_ref_um_s=r.num(f"{lp}.fluid_velocity_ref", lo=1e-6),
        thresholds=(thresholds[0], thresholds[1], thresholds[2], thresholds[3]),
        band_width=r.num(f"{lp}.band_width", lo=1e-3, hi=2.0),
        ch_strain_intramembranous=r.num(f"{ch}.strain_intramembranous", lo=1e-6),
        ch_strain_endochondral=r.num(f"{ch}.strain_endochondral", lo=1e-6),
        ch_pressure_mpa=r.num(f"{ch}.pressure", lo=1e-6),
        ch_pressure_per_strain_mpa=r.num(f"{ch}.pressure_per_strain", lo=0.0),
        modulus_mpa=np.array([r.num(f"tissue.modulus_mpa.{t}", lo=1e-6) for t in TISSUES]),
        averaging_days=r.num("tissue.averaging_days", lo=1.0),
        rates_per_day=rates,
        bridging_bone_fraction=r.num("tissue.bridging_bone_fraction", lo=0.05, hi=0.95),
        fusion_state_exponent=r.num("tissue.fusion_state_exponent", lo=0.5, hi=6.0),
        region_strain_factor=np.array(
            [r.num(f"regions.{g}.strain_factor", lo=0.0) for g in REGIONS]
        ),
        region_bed_factor=np.array([r.num(f"regions.{g}.bed_factor", lo=0.0) for g in REGIONS]),
        region_stiffness_share=np.array(
            [r.num(f"regions.{g}.stiffness_share", lo=0.0, hi=1.0) for g in REGIONS]
        ),
        cycles_per_day=np.array([r.num(f"{act}.cycles_per_day.{c}", lo=0.0) for c in LOAD_CASES]),
        stimulus_exponent=r.num(f"{act}.stimulus_exponent", lo=1.0, hi=16.0),
        restricted_cases=restricted,
        restriction_days=7.0 * r.num(f"{act}.restriction_weeks", lo=0.0, hi=52.0),
        restricted_fraction=r.num(f"{act}.restricted_fraction", lo=0.0, hi=1.0),
        walking_ramp_days=7.0 * r.num(f"{act}.walking_ramp_weeks", lo=0.0, hi=52.0),
        walking_initial_fraction=r.num(f"{act}.walking_initial_fraction", lo=0.0, hi=1.0),
        graft_multiplier=r.table(f"{bio}.graft", GRAFTS),
        graft_compromised_share={
            g: r.num(f"{bio}.graft.{g}.compromised_bed_share", lo=0.0, hi=0.5)
            for g in GRAFTS
            if isinstance(r.get(f"{bio}.graft.{g}"), Mapping)
            and "compromised_bed_share" in r.get(f"{bio}.graft.{g}")
        },
        graft_resorption={
            g: (
                r.num(f"{bio}.graft.{g}.interbody_resorption.share", lo=0.0, hi=1.0),
                DAYS_PER_MONTH
                * r.num(f"{bio}.graft.{g}.interbody_resorption.months", lo=0.0, hi=24.0),
            )
            for g in GRAFTS
            if isinstance(r.get(f"{bio}.graft.{g}"), Mapping)
            and "interbody_resorption" in r.get(f"{bio}.graft.{g}")
        },
        graft_interbody_multiplier={
            g: r.num(f"{bio}.graft.{g}.interbody_value", lo=0.0)
            for g in GRAFTS
            if isinstance(r.get(f"{bio}.graft.{g}"), Mapping)
            and "interbody_value" in r.get(f"{bio}.graft.{g}")
        },
        smoking_multiplier=r.table(f"{bio}.smoking", ("never", "former", "current")),
        smoking_compromised_ratio={
            k: r.num(f"{bio}.smoking.{k}.compromised_bed_ratio", lo=0.0, hi=20.0)
            for k in ("never", "former", "current")
        },
        diabetes_multiplier=r.table(f"{bio}.diabetes", ("none", "non_insulin", "insulin")),
        nsaids_multiplier=r.num(f"{bio}.nsaids", lo=0.0),
        age_reference_years=r.num(f"{bio}.age.reference_years", lo=18.0, hi=110.0),
        age_multiplier_per_year=r.num(f"{bio}.age", lo=0.5, hi=1.5),
        levels_multiplier=r.num(f"{bio}.levels", lo=0.1, hi=1.5),
        osteoporosis_multiplier=r.num(f"{bio}.osteoporosis", lo=0.0),
        subsidence_scale_mm=r.num(f"{bio}.subsidence_scale_mm", lo=1e-3),
        biology_log_sd=r.num("ensemble.biology_log_sd", lo=0.0, hi=3.0),
        compromised_bed_share=r.num("ensemble.compromised_bed_share", lo=0.0, hi=0.5),
        compromised_bed_rate=r.num("ensemble.compromised_bed_rate", lo=0.0, hi=1.0),
        load_log_sd=r.num("ensemble.load_log_sd", lo=0.0, hi=3.0),
        members_default=int(r.num("ensemble.members_default", lo=1)),
        dt_days=r.num("ensemble.dt_days", lo=0.25, hi=5.0),
        motion_threshold_deg=r.num("nonunion.motion_threshold_deg", lo=0.0),
        assess_month=r.num("nonunion.assess_month", lo=1.0),
        hu_density_intercept=r.num("subsidence.hu_to_density.intercept"),
        hu_density_slope=r.num("subsidence.hu_to_density.slope", lo=0.0),
        yield_coefficient_mpa=r.num("subsidence.yield_strength.coefficient", lo=0.0),
        yield_exponent=r.num("subsidence.yield_strength.exponent", lo=0.0),
        endplate_factor=r.num("subsidence.endplate_factor", lo=0.0),
        peak_load_factor=r.num("subsidence.peak_load_factor", lo=0.0),
        settlement_compliance_mm=r.num("subsidence.settlement_compliance_mm", lo=0.0),
        max_settlement_mm=r.num("subsidence.max_settlement_mm", lo=0.0),
        settlement_time_constant_days=r.num("subsidence.time_constant_days", lo=1e-3),
        subsidence_threshold_mm=r.num("subsidence.threshold_mm", lo=0.0),
        yield_log_sd=r.num("subsidence.yield_log_sd", lo=0.0, hi=3.0),
        fallback_hu={
            k: r.num(f"bone_density_fallback.{k}_hu", lo=-200.0, hi=1000.0)
            for k in ("normal", "osteopenia", "osteoporosis")
        },
        cycles_per_year=r.num("fatigue.cycles_per_year", lo=0.0),
        rods=rods,
        life_log10_sd=r.num("fatigue.life_log10_sd", lo=0.0, hi=3.0),
    )


def load_parameters(path: str | Path | None = None) -> HealingParameters:
    """The healing parameters from ``path`` or, by default, the packaged data file (cached)."""
    if path is None:
        return _packaged()
    data = read_yaml_file(path, "healing parameter file", ParameterError)
    return parameters_from_mapping(data, str(path))


def raw_parameters() -> dict[str, Any]:
    """The packaged parameter file as a plain mapping (for provenance listings and tests)."""
    data: dict[str, Any] = load_yaml("healing_parameters.yaml")
    return data


@lru_cache(maxsize=1)
def _packaged() -> HealingParameters:
    return parameters_from_mapping(raw_parameters(), "spinefuse/data/healing_parameters.yaml")
