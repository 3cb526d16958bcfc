"""SpineGeometry and its parts: the patient's anatomy in the world frame (RAS, mm).

Every stage downstream of imaging reads anatomy only through these records. Points are ``Vec3``
tuples in the world frame; directions are unit vectors; sizes are in mm, areas in mm², angles in
degrees only where the field name says ``_deg``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator

from spinefuse.conventions import Side, parse_segment, segment_name, vertebra_index
from spinefuse.errors import GeometryError, LevelError
from spinefuse.records import Record, Vec3

FacetName = Literal["superior_left", "superior_right", "inferior_left", "inferior_right"]


def _unit(v: Vec3, what: str) -> Vec3:
    n = float(np.linalg.norm(v))
    if not 0.99 < n < 1.01:
        raise GeometryError(f"{what} must be a unit vector, got {v} (norm {n:.3f})")
    return v


class Endplate(Record):
    """A vertebral endplate. ``normal`` points out of the body (cranially for a superior
    endplate, caudally for an inferior one). Corners lie in the mid-sagittal plane (anterior,
    posterior) and the mid-coronal plane (left, right)."""

    centre: Vec3
    normal: Vec3
    anterior: Vec3
    posterior: Vec3
    left: Vec3 | None = None
    right: Vec3 | None = None
    width_mm: float = Field(gt=0, description="left-right extent")
    depth_mm: float = Field(gt=0, description="antero-posterior extent")
    hu: float | None = Field(default=None, description="mean HU of the subchondral bone")

    @model_validator(mode="after")
    def _check(self) -> Endplate:
        _unit(self.normal, "endplate normal")
        return self

    @property
    def area_mm2(self) -> float:
        """Endplate area approximated as an ellipse of its width and depth (mm²)."""
        return float(np.pi / 4.0 * self.width_mm * self.depth_mm)


class Pedicle(Record):
    """One pedicle: its isthmus (the narrowest cross-section) and its axis.

    ``axis`` is a unit vector from posterior to anterior along the pedicle (the direction a
    pedicle screw is driven). ``entry_point`` is where the axis leaves the posterior cortex and
    ``chord_mm`` the distance from it along the axis to the anterior cortex of the body."""

    side: Side
    isthmus_centre: Vec3
    axis: Vec3
    width_mm: float = Field(gt=0, description="narrowest transverse width of the isthmus")
    height_mm: float = Field(gt=0, description="cranio-caudal height of the isthmus")
    entry_point: Vec3 | None = None
    chord_mm: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Pedicle:
        _unit(self.axis, f"{self.side} pedicle axis")
        return self


class Canal(Record):
    """The spinal canal at the level of a vertebra (or a disc)."""

    centre: Vec3
    ap_diameter_mm: float = Field(gt=0)
    width_mm: float = Field(gt=0)
    area_mm2: float = Field(gt=0)


class Facet(Record):
    """An articular facet: centre and unit normal pointing out of the bone into the joint."""

    centre: Vec3
    normal: Vec3
    area_mm2: float = Field(default=150.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Facet:
        _unit(self.normal, "facet normal")
        return self


class Vertebra(Record):
    """One vertebra. ``partial`` marks a vertebra cut by the edge of the field of view: its
    measurements are not those of the whole bone and must not be used as such."""

    name: str
    centroid: Vec3
    superior: Endplate
    inferior: Endplate | None = Field(default=None, description="None for S1 (the sacrum)")
    anterior_height_mm: float | None = Field(default=None, gt=0)
    middle_height_mm: float | None = Field(default=None, gt=0)
    posterior_height_mm: float | None = Field(default=None, gt=0)
    body_width_mm: float = Field(gt=0)
    body_depth_mm: float = Field(gt=0)
    pedicles: dict[Side, Pedicle] = Field(default_factory=dict)
    corridors: dict[Side, Pedicle] = Field(
        default_factory=dict,
        description="screw corridors fitted on the label map: the straight line through each "
        "pedicle with the most bone around it, from its entry to the anterior cortex",
    )
    canal: Canal | None = None
    facets: dict[FacetName, Facet] = Field(default_factory=dict)
    spinous_tip: Vec3 | None = None
    lamina_centre: Vec3 | None = None
    transverse_tips: dict[Side, Vec3] = Field(default_factory=dict)
    trabecular_hu: float | None = None
    partial: bool = False

    @model_validator(mode="after")
    def _check(self) -> Vertebra:
        vertebra_index(self.name)
        for side, p in (*self.pedicles.items(), *self.corridors.items()):
            if p.side != side:
                raise GeometryError(f"{self.name}: pedicle stored under {side!r} says {p.side!r}")
        return self

    def frame(self) -> NDArray[np.float64]:
        """The vertebra's local frame as a 4×4 homogeneous matrix (local -> world).

        Origin at the centroid; z from the inferior to the superior endplate centre (for S1,
        the superior endplate normal); y anterior in the mid-sagittal plane; x = y × z."""
        sup = np.asarray(self.superior.centre)
        if self.inferior is not None:
            z = sup - np.asarray(self.inferior.centre)
        else:
            z = np.asarray(self.superior.normal, dtype=float)
        z = z / np.linalg.norm(z)
        a = np.asarray(self.superior.anterior) - np.asarray(self.superior.posterior)
        y = a - z * (a @ z)
        y = y / np.linalg.norm(y)
        x = np.cross(y, z)
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, z, self.centroid
        return m


class Disc(Record):
    """An intervertebral disc between ``upper`` and ``lower``. Heights are measured between the
    adjacent endplates; ``wedge_deg`` is the angle between them, positive when lordotic (open
    anteriorly)."""

    name: str
    upper: str
    lower: str
    centre: Vec3
    anterior_height_mm: float = Field(ge=0)
    middle_height_mm: float = Field(ge=0)
    posterior_height_mm: float = Field(ge=0)
    wedge_deg: float
    canal: Canal | None = Field(default=None, description="the dural sac at the disc level")

    @model_validator(mode="after")
    def _check(self) -> Disc:
        if segment_name(self.upper, self.lower) != self.name:
            raise GeometryError(f"disc {self.name!r} does not join {self.upper} and {self.lower}")
        return self


def _plane_distance(point: NDArray[np.float64], plate: Endplate) -> float:
    return float(abs((point - np.asarray(plate.centre)) @ np.asarray(plate.normal)))


def disc_between(upper: Vertebra, lower: Vertebra, canal: Canal | None = None) -> Disc:
    """The disc between two vertebrae, measured from their endplates.

    Each height (anterior, middle, posterior) is the mean of the two point-to-plane distances:
    the upper endplate's point to the lower endplate's plane and vice versa, so a slip does not
    inflate it. ``wedge_deg`` is the signed angle between the endplates about the lower
    vertebra's x axis, positive when lordotic (open anteriorly)."""
    top = upper.inferior
    if top is None:
        raise GeometryError(f"{upper.name} has no inferior endplate to bound a disc")
    bottom = lower.superior

    def height(a: Vec3, b: Vec3) -> float:
        return 0.5 * (_plane_distance(np.asarray(a), bottom) + _plane_distance(np.asarray(b), top))

    up, low = -np.asarray(top.normal), np.asarray(bottom.normal)
    x_axis = lower.frame()[:3, 0]
    wedge = float(np.degrees(np.arctan2(np.cross(low, up) @ x_axis, low @ up)))
    centre = 0.5 * (np.asarray(top.centre) + np.asarray(bottom.centre))
    return Disc(
        name=segment_name(upper.name, lower.name),
        upper=upper.name,
        lower=lower.name,
        centre=(float(centre[0]), float(centre[1]), float(centre[2])),
        anterior_height_mm=height(top.anterior, bottom.anterior),
        middle_height_mm=height(top.centre, bottom.centre),
        posterior_height_mm=height(top.posterior, bottom.posterior),
        wedge_deg=wedge,
        canal=canal,
    )


class Pelvis(Record):
    """The pelvis as needed for sagittal alignment: femoral head centres by side."""

    femoral_heads: dict[Side, Vec3]
    iliac_crests: dict[Side, Vec3] = Field(
        default_factory=dict,
        description="top of each iliac crest (a lateral approach to L4-L5 passes above it)",
    )

    @property
    def hip_axis_centre(self) -> Vec3:
        """Midpoint of the femoral head centres (the hip axis used for PI and PT)."""
        c = np.mean([np.asarray(p) for p in self.femoral_heads.values()], axis=0)
        return (float(c[0]), float(c[1]), float(c[2]))


class SpineGeometry(Record):
    """The lumbar spine of one patient in the world frame.

    ``vertebrae`` is ordered head to pelvis; ``discs`` holds the segments between consecutive
    vertebrae that are present. ``source`` says where it came from; ``parameters`` carries the
    generating parameters of a virtual patient (its exact ground truth) or the provenance of a
    measured one."""

    vertebrae: dict[str, Vertebra]
    discs: dict[str, Disc] = Field(default_factory=dict)
    pelvis: Pelvis | None = None
    c7_centroid: Vec3 | None = Field(default=None, description="for the sagittal vertical axis")
    source: Literal["virtual", "ct", "mr", "reference", "xray"]
    source_detail: str = ""
    parameters: dict[str, float | str] = Field(default_factory=dict)
    notes: list[str] = Field(
        default_factory=list, description="measurements not made on this image, and why"
    )
    needs_confirmation: list[str] = Field(
        default_factory=list,
        description="what the surgeon must confirm on the images before relying on this "
        "anatomy: levels the quality gate doubts, names the segmentation guessed",
    )

    @model_validator(mode="after")
    def _check(self) -> SpineGeometry:
        names = list(self.vertebrae)
        if names != sorted(names, key=vertebra_index):
            raise GeometryError(f"vertebrae must be ordered head to pelvis, got {names}")
        for key, v in self.vertebrae.items():
            if v.name != key:
                raise GeometryError(f"vertebra stored under {key!r} is named {v.name!r}")
        for key, d in self.discs.items():
            if d.name != key:
                raise GeometryError(f"disc stored under {key!r} is named {d.name!r}")
            for level in (d.upper, d.lower):
                if level not in self.vertebrae:
                    raise GeometryError(f"disc {key} refers to missing vertebra {level}")
        return self

    def vertebra(self, name: str) -> Vertebra:
        """The named vertebra, or a :class:`LevelError` naming what is present."""
        try:
            return self.vertebrae[name]
        except KeyError:
            raise LevelError(
                f"vertebra {name} is not in this geometry (present: {', '.join(self.vertebrae)})"
            ) from None

    def disc(self, segment: str) -> Disc:
        """The disc of a motion segment such as ``"L4-L5"``."""
        parse_segment(segment)
        try:
            return self.discs[segment]
        except KeyError:
            raise LevelError(
                f"disc {segment} is not in this geometry (present: {', '.join(self.discs)})"
            ) from None

    @property
    def levels(self) -> tuple[str, ...]:
        """Vertebra names, head to pelvis."""
        return tuple(self.vertebrae)

    @property
    def segments(self) -> tuple[str, ...]:
        """Motion-segment names with a disc, head to pelvis."""
        return tuple(self.discs)

    def whole(self) -> tuple[str, ...]:
        """Names of the vertebrae that are not cut by the field of view."""
        return tuple(n for n, v in self.vertebrae.items() if not v.partial)
