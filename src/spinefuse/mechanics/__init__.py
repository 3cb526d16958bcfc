"""Spine mechanics: a reduced-order L1–S1 model (rigid vertebrae, nonlinear discs, ligaments,
facet contact, implants and fusion masses) with a batched Newton solver.

Public surface: :func:`simulate` (one spine, intact and operated) -> :class:`MechanicsResult`;
:func:`direction_response` (batched six-direction flexibility tests);
:func:`fused_segment_response` (the healing stage's input) -> :class:`FusionResponse`;
:func:`reference_geometry`.
"""

from spinefuse.mechanics.constructs import (
    Construct,
    parse_construct,
    parse_constructs,
    plan_construct,
)
from spinefuse.mechanics.fusion import fused_segment_response
from spinefuse.mechanics.reference import reference_geometry
from spinefuse.mechanics.result import FUSION_LOAD_CASES, FusionResponse, MechanicsResult
from spinefuse.mechanics.simulation import (
    DirectionResponse,
    direction_response,
    rom_batch,
    simulate,
)

__all__ = [
    "FUSION_LOAD_CASES",
    "Construct",
    "DirectionResponse",
    "FusionResponse",
    "MechanicsResult",
    "direction_response",
    "fused_segment_response",
    "parse_construct",
    "parse_constructs",
    "plan_construct",
    "reference_geometry",
    "rom_batch",
    "simulate",
]
