"""The implant catalogue: screws, rods, cages, plates, graft materials and what they are made of.

The catalogue is a YAML file (``schema: spinefuse/implant_catalogue@1``) that a site replaces with
its own stock; :func:`load_catalogue` reads and validates it, and every problem stops with a
:class:`CatalogueError` naming the file, the field, the value and what is allowed. Sizes in mm,
angles in degrees (``_deg``), stresses and moduli in MPa.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from spinefuse.datafiles import load_yaml, read_yaml_file
from spinefuse.errors import ParameterError
from spinefuse.plan.surgical_plan import GraftMaterial, Technique
from spinefuse.records import Record, describe_validation_error

CATALOGUE_SCHEMA = "spinefuse/implant_catalogue@1"
Certainty = Literal["verified", "unverified"]


class CatalogueError(ParameterError):
    """An implant catalogue file is unreadable or invalid."""


class Material(Record):
    """An implant material's mechanical properties (MPa, g/cm³) and where they come from."""

    description: str
    elastic_modulus_mpa: float = Field(gt=0)
    poisson_ratio: float = Field(gt=0, lt=0.5)
    yield_strength_mpa: float = Field(gt=0)
    ultimate_strength_mpa: float = Field(gt=0)
    fatigue_limit_mpa: float = Field(gt=0)
    density_g_cm3: float = Field(gt=0)
    source: str = Field(min_length=1)
    certainty: Certainty

    @model_validator(mode="after")
    def _order(self) -> Material:
        if self.ultimate_strength_mpa < self.yield_strength_mpa:
            raise ValueError(
                f"ultimate_strength_mpa {self.ultimate_strength_mpa} is below "
                f"yield_strength_mpa {self.yield_strength_mpa}"
            )
        return self


def _sorted_positive(values: list[float], what: str) -> list[float]:
    if not values:
        raise ValueError(f"{what} must list at least one size")
    if any(v <= 0 for v in values) or sorted(set(values)) != list(values):
        raise ValueError(f"{what} must be positive and strictly increasing, got {values}")
    return values


class ScrewLine(Record):
    """The pedicle screws stocked: every diameter comes in every length."""

    material: str
    diameters_mm: list[float]
    lengths_mm: list[float]
    head_height_mm: float = Field(gt=0)
    head_diameter_mm: float = Field(gt=0)

    @model_validator(mode="after")
    def _sizes(self) -> ScrewLine:
        _sorted_positive(self.diameters_mm, "diameters_mm")
        _sorted_positive(self.lengths_mm, "lengths_mm")
        return self


class RodStock(Record):
    """One rod: material class as the plan names it, the alloy (a key of ``materials``)."""

    material: Literal["titanium", "cobalt_chrome"]
    alloy: str
    diameter_mm: float = Field(gt=0)
    max_length_mm: float = Field(gt=0)


class CageLine(Record):
    """The cages stocked for one technique. Footprints are ``[width, depth]`` in mm as placed
    (width left-right, depth antero-posterior)."""

    footprints_mm: list[tuple[float, float]] = Field(min_length=1)
    heights_mm: list[float]
    lordosis_deg: list[float]
    materials: list[Literal["peek", "titanium"]] = Field(min_length=1)
    count: int = Field(ge=1, le=2)
    graft_window_fraction: float = Field(ge=0, lt=1)

    @model_validator(mode="after")
    def _sizes(self) -> CageLine:
        _sorted_positive(self.heights_mm, "heights_mm")
        if not self.lordosis_deg or sorted(set(self.lordosis_deg)) != list(self.lordosis_deg):
            raise ValueError(f"lordosis_deg must be increasing, got {self.lordosis_deg}")
        if any(w <= 0 or d <= 0 for w, d in self.footprints_mm):
            raise ValueError(f"footprints_mm must be positive, got {self.footprints_mm}")
        return self


class Plate(Record):
    name: str
    material: str
    length_mm: float = Field(gt=0)
    width_mm: float = Field(gt=0)
    screws: int = Field(ge=2)


class GraftProduct(Record):
    description: str
    osteogenic: bool
    osteoinductive: bool
    osteoconductive: bool
    concentration_mg_per_cm3: float | None = Field(default=None, gt=0)
    source: str = Field(min_length=1)
    certainty: Certainty


class Catalogue(Record):
    """A site's implant catalogue."""

    schema_: Literal["spinefuse/implant_catalogue@1"] = Field(alias="schema")
    name: str
    materials: dict[str, Material]
    screws: ScrewLine
    rods: list[RodStock] = Field(min_length=1)
    cages: dict[Technique, CageLine]
    plates: list[Plate] = Field(default_factory=list)
    grafts: dict[GraftMaterial, GraftProduct]

    model_config = Record.model_config | {"populate_by_name": True}

    @model_validator(mode="after")
    def _references(self) -> Catalogue:
        used = [("screws.material", self.screws.material)]
        used += [(f"rods.{i}.alloy", r.alloy) for i, r in enumerate(self.rods)]
        used += [(f"plates.{i}.material", p.material) for i, p in enumerate(self.plates)]
        for where, key in used:
            if key not in self.materials:
                raise ValueError(
                    f"{where} = {key!r} is not a material of this catalogue "
                    f"(materials: {', '.join(self.materials)})"
                )
        if "peek" not in self.materials:
            raise ValueError("materials must define 'peek' (cages)")
        if "rhbmp2" in self.grafts and self.grafts["rhbmp2"].concentration_mg_per_cm3 is None:
            raise ValueError("grafts.rhbmp2 needs concentration_mg_per_cm3")
        return self

    def material(self, key: str) -> Material:
        """A material by key, or a :class:`CatalogueError` naming those present."""
        try:
            return self.materials[key]
        except KeyError:
            raise CatalogueError(
                f"catalogue {self.name!r} has no material {key!r} "
                f"(present: {', '.join(self.materials)})"
            ) from None

    def rod(self, material: str, diameter_mm: float) -> RodStock:
        """The stocked rod of this material and diameter, or a :class:`CatalogueError`."""
        for r in self.rods:
            if r.material == material and abs(r.diameter_mm - diameter_mm) < 1e-6:
                return r
        stock = ", ".join(f"{r.material} {r.diameter_mm:g} mm" for r in self.rods)
        raise CatalogueError(
            f"catalogue {self.name!r} stocks no {material} rod of {diameter_mm:g} mm "
            f"(stocked: {stock}); choose one of those"
        )

    def cage_line(self, technique: Technique) -> CageLine:
        """The cages for ``technique``, or a :class:`CatalogueError` when none are stocked."""
        try:
            return self.cages[technique]
        except KeyError:
            raise CatalogueError(
                f"catalogue {self.name!r} stocks no {technique} cages "
                f"(stocked: {', '.join(self.cages) or 'none'})"
            ) from None

    def cage_material_key(self, material: Literal["peek", "titanium"]) -> str:
        """Catalogue material key of a cage material (titanium cages are Ti-6Al-4V)."""
        return "peek" if material == "peek" else self.screws.material


def catalogue_from_dict(data: object, source: str = "catalogue") -> Catalogue:
    """Validate a mapping as a :class:`Catalogue`."""
    if not isinstance(data, dict):
        raise CatalogueError(f"{source}: a catalogue must be a mapping, got {type(data).__name__}")
    if data.get("schema") != CATALOGUE_SCHEMA:
        raise CatalogueError(
            f"{source}: schema = {data.get('schema')!r}: this spinefuse reads "
            f"{CATALOGUE_SCHEMA!r}; add 'schema: {CATALOGUE_SCHEMA}' at the top of the file"
        )
    try:
        return Catalogue.model_validate(data)
    except ValidationError as err:
        raise CatalogueError(describe_validation_error(err, source, "implant catalogue")) from None


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read a catalogue file; ``None`` gives the packaged generic catalogue."""
    if path is None:
        return default_catalogue()
    data = read_yaml_file(path, "implant catalogue file", CatalogueError)
    return catalogue_from_dict(data, str(path))


@cache
def default_catalogue() -> Catalogue:
    """The packaged generic catalogue (``data/implant_catalogue.yaml``)."""
    return catalogue_from_dict(
        load_yaml("implant_catalogue.yaml"), "spinefuse/data/implant_catalogue.yaml"
    )
