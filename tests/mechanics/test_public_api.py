"""The curated public surface of spinefuse.mechanics (what other stages may import)."""

from __future__ import annotations

import spinefuse.mechanics as mechanics


def test_public_surface_is_exactly_the_contract() -> None:
    assert sorted(mechanics.__all__) == sorted(
        [
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
    )
    for name in mechanics.__all__:
        assert getattr(mechanics, name) is not None
    assert mechanics.FUSION_LOAD_CASES == (
        "standing",
        "walking",
        "flexion",
        "extension",
        "lateral_bending",
        "axial_rotation",
    )
