"""Load cases: pure moments in the six directions, follower load, their combination, the
displacement-controlled protocols and the in vivo postures, expressed for a batch of spines.

Pure moments act on the top vertebra about the axes of its own local frame (flexion about −x,
lateral bending right about +y, axial rotation right about −z; conventions.MOTION_AXIS_SIGN),
fixed in space during loading, as with a spine tester's gimbals locked to the lab. Because the
axes come from the geometry, results do not depend on the world frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.conventions import DIRECTIONS, MOTION_AXIS_SIGN, NM, Direction
from spinefuse.errors import ParameterError
from spinefuse.mechanics.parameters import parameters, value

Arr = NDArray[np.float64]
Protocol = Literal["pure-moment", "follower", "combined", "hybrid", "displacement"]
PROTOCOLS: tuple[Protocol, ...] = ("pure-moment", "follower", "combined", "hybrid", "displacement")
Posture = Literal["standing", "sitting", "prone", "lifting"]
POSTURES: tuple[Posture, ...] = ("standing", "sitting", "prone", "lifting")


def moment_axis(geometry: SpineGeometry, direction: Direction, top: str) -> Arr:
    """Unit moment vector (world) that drives ``direction`` at the top vertebra ``top``."""
    frame = geometry.vertebra(top).frame()[:3, :3]
    ax = direction.axis
    return np.asarray(frame[:, ax] * direction.sign * MOTION_AXIS_SIGN[ax], dtype=float)


def direction_moments(geometries: list[SpineGeometry], top: str, moment_nm: float | Arr) -> Arr:
    """Moment vectors (N·mm, world) for every spine × direction: shape (n, 6, 3).

    ``moment_nm`` is a scalar or an (n, 6) array of magnitudes in N·m."""
    mag = np.broadcast_to(np.asarray(moment_nm, dtype=float), (len(geometries), len(DIRECTIONS)))
    frames: dict[int, Arr] = {}
    axes = np.empty((len(geometries), len(DIRECTIONS), 3))
    for i, g in enumerate(geometries):
        if id(g) not in frames:
            frames[id(g)] = np.asarray([moment_axis(g, d, top) for d in DIRECTIONS])
        axes[i] = frames[id(g)]
    return np.asarray(axes * (mag * NM)[..., None])


def standing_follower_n() -> float:
    """Follower load (N) simulating relaxed standing (Rohlmann et al. 2009)."""
    return value("loads", "standing_follower_n")


@dataclass(frozen=True)
class PostureCase:
    """An in vivo load case: a follower load (N) and a moment (N·m) in a direction (or none)."""

    name: str
    follower_n: float
    moment_nm: float
    direction: Direction | None
    source: str


def posture_case(name: str) -> PostureCase:
    """The data file's load case of posture ``name`` (standing, sitting, prone, lifting)."""
    cases = parameters()["postures"]
    if name not in POSTURES:
        raise ParameterError(f"posture {name!r} is unknown; use one of {', '.join(POSTURES)}")
    c = cases[name]
    d = str(c["direction"])
    return PostureCase(
        name=name,
        follower_n=float(c["follower_n"]),
        moment_nm=float(c["moment_nm"]),
        direction=None if d == "none" else Direction(d),
        source=str(c["source"]),
    )


def parse_moments(text: str) -> list[float]:
    """``"1,2.5,5,7.5,10"`` (N·m) as a list of moments; anything else is refused by name."""
    try:
        out = [float(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise ParameterError(
            f"moments {text!r}: give comma-separated moments in N·m, e.g. 1,2.5,5,7.5,10"
        ) from None
    if not out:
        raise ParameterError("moments: none given; e.g. --moments-nm 1,2.5,5,7.5,10")
    return out


def check_load(
    protocol: str, moment_nm: float, preload_n: float, rotation_deg: float | None = None
) -> Protocol:
    """Validate a protocol and its magnitudes; return the protocol."""
    if protocol not in PROTOCOLS:
        raise ParameterError(f"protocol {protocol!r} is unknown; use one of {', '.join(PROTOCOLS)}")
    if not 0.0 <= moment_nm <= 30.0:
        raise ParameterError(
            f"moment_nm = {moment_nm}: must lie in 0…30 N·m (in-vitro protocols use 7.5–10)"
        )
    if not 0.0 <= preload_n <= 3000.0:
        raise ParameterError(f"preload_n = {preload_n}: must lie in 0…3000 N (compression)")
    if protocol == "pure-moment" and preload_n > 0.0:
        raise ParameterError(
            f"protocol pure-moment takes no preload (got preload_n = {preload_n}); "
            "use --protocol combined for a moment with a follower load"
        )
    if protocol == "follower" and preload_n <= 0.0:
        raise ParameterError("protocol follower needs preload_n > 0 (the follower load in N)")
    if protocol == "displacement":
        if rotation_deg is None or not 0.5 <= rotation_deg <= 40.0:
            raise ParameterError(
                f"protocol displacement needs the prescribed total rotation, rotation_deg in "
                f"0.5…40 degrees (got {rotation_deg}); e.g. --rotation-deg 10"
            )
    elif rotation_deg is not None:
        raise ParameterError(
            f"rotation_deg = {rotation_deg} is the displacement protocol's prescribed rotation; "
            "use --protocol displacement with it"
        )
    return protocol
