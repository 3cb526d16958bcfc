"""The planner's sizing and choice rules, read from ``data/planning_rules.yaml`` with sources."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import Field, ValidationError

from spinefuse.datafiles import load_yaml
from spinefuse.errors import ParameterError
from spinefuse.records import Record, describe_validation_error

Certainty = Literal["verified", "unverified"]


class _Cited(Record):
    unit: str
    source: str = Field(min_length=1)
    certainty: Certainty


class Scalar(_Cited):
    value: float


class BySegment(_Cited):
    values: dict[str, float]


class RangeBySegment(_Cited):
    values: dict[str, tuple[float, float]]


class HuBands(_Cited):
    poor: float
    reduced: float


class ShaftBands(_Cited):
    cancellous: float
    cortical: float


class Subsidence(Record):
    osteoporosis_odds_ratio: float = Field(gt=0)
    over_distraction_odds_ratio_per_mm: float = Field(gt=0)
    severe_subsidence_mm: float = Field(gt=0)
    source: str
    certainty: Certainty


class LordosisClasses(_Cited):
    classes: list[tuple[float, float]] = Field(min_length=1)


class CrestRule(_Cited):
    blocked: float
    difficult: float


class Bed(_Cited):
    width: float = Field(gt=0)
    thickness: float = Field(gt=0)


class GraftRange(_Cited):
    min: float = Field(gt=0)
    max: float = Field(gt=0)


class PlanningRules(Record):
    """Every rule the planner applies (see the YAML file for each one's meaning)."""

    schema_: Literal["spinefuse/planning_rules@1"] = Field(alias="schema")
    screw_diameter_fraction_of_isthmus: Scalar
    screw_length_fraction_of_chord: Scalar
    screw_length_max_fraction_of_chord: Scalar
    screw_breach_tolerance_mm: Scalar
    screw_diameter_ranges_mm: RangeBySegment
    trabecular_hu_bands: HuBands
    shaft_hu_bands: ShaftBands
    cage_subsidence_risk: Subsidence
    cage_height_mm: BySegment
    cage_footprint_fraction: Scalar
    lordosis_target_by_pi_class: LordosisClasses
    segmental_lordosis_share: BySegment
    rod_overhang_mm: Scalar
    rod_cobalt_chrome_min_levels: Scalar
    mis_max_levels: Scalar
    llif_iliac_crest: CrestRule
    local_bone_yield_cm3: BySegment
    posterolateral_bed_mm: Bed
    interbody_graft_cm3: GraftRange

    model_config = Record.model_config | {"populate_by_name": True}

    def lordosis_target_deg(self, pelvic_incidence_deg: float) -> float:
        """Theoretical L1–S1 lordosis (deg) for a pelvic incidence, by PI class."""
        for upper, offset in self.lordosis_target_by_pi_class.classes:
            if pelvic_incidence_deg < upper:
                return pelvic_incidence_deg + offset
        return pelvic_incidence_deg + self.lordosis_target_by_pi_class.classes[-1][1]


@cache
def planning_rules() -> PlanningRules:
    """The packaged planning rules."""
    try:
        return PlanningRules.model_validate(load_yaml("planning_rules.yaml"))
    except ValidationError as err:
        raise ParameterError(
            describe_validation_error(err, "spinefuse/data/planning_rules.yaml", "rules")
        ) from None
