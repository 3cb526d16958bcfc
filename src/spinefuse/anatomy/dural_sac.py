"""The dural sac at each disc level, measured on CT by its density.

Central stenosis is narrowing of the dural sac by disc, ligamentum flavum and facets: soft tissue
that a bone label map does not show. On CT the sac holds cerebrospinal fluid (about 0–30 HU)
and is surrounded by ligament and disc (60–100 HU) and epidural fat (about −100 HU). In the
mid-plane of each disc, between the two endplates, the sac is the connected region of fluid
density around the canal's centre line; its area, antero-posterior diameter and width are what
the Schizas/Schönström and Verbiest criteria read. The thresholds and their sources are in
``data/dural_sac.yaml``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.anatomy.geometry import Canal, SpineGeometry
from spinefuse.datafiles import load_yaml
from spinefuse.imaging.volume import Volume

F64 = NDArray[np.float64]


def parameters() -> dict[str, Any]:
    """The measurement's thresholds (``data/dural_sac.yaml``)."""
    data: dict[str, Any] = load_yaml("dural_sac.yaml")
    return data


def _value(key: str) -> float:
    return float(parameters()[key]["value"])


def _unit(v: F64) -> F64:
    return np.asarray(v / np.linalg.norm(v), dtype=float)


def measure_dural_sac(ct: Volume, geometry: SpineGeometry, segment: str) -> Canal | None:
    """The dural sac in the mid-plane of ``segment``'s disc, or None where it cannot be
    measured (a partial vertebra, no canal, the plane outside the image, no fluid found)."""
    disc = geometry.disc(segment)
    upper, lower = geometry.vertebra(disc.upper), geometry.vertebra(disc.lower)
    if upper.partial or lower.partial or upper.inferior is None:
        return None
    canals = [v.canal for v in (upper, lower) if v.canal is not None]
    if not canals:
        return None
    z = _unit(np.asarray(lower.superior.normal) - np.asarray(upper.inferior.normal))
    ant = np.asarray(lower.superior.anterior) - np.asarray(lower.superior.posterior)
    y = _unit(ant - z * (ant @ z))
    x = np.cross(y, z)
    centre = np.asarray(disc.centre)
    seed = np.mean([np.asarray(c.centre) for c in canals], axis=0)
    seed = centre + x * ((seed - centre) @ x) + y * ((seed - centre) @ y)  # into the disc plane
    cell = _value("sampling_mm")
    half = _value("search_half_width_mm")
    u = np.arange(-half, half + cell / 2, cell)
    slab = np.asarray(parameters()["slab_offsets_mm"]["value"], dtype=float)
    pts = (
        seed[None, None, None, :]
        + u[:, None, None, None] * x
        + u[None, :, None, None] * y
        + slab[None, None, :, None] * z
    )
    ijk = ct.world_to_voxel(pts.reshape(-1, 3)).T
    inside = np.all((ijk > -0.5) & (ijk < np.array(ct.shape)[:, None] - 0.5), axis=0)
    if not inside.all():
        return None
    hu = ndimage.map_coordinates(np.asarray(ct.array, dtype=np.float32), ijk, order=1)
    plane = hu.reshape(len(u), len(u), len(slab)).mean(axis=2)
    plane = ndimage.gaussian_filter(plane, _value("smoothing_mm") / cell)
    fluid = (plane >= _value("fluid_min_hu")) & (plane <= _value("fluid_max_hu"))
    labels, n = ndimage.label(fluid)
    if n == 0:
        return None
    # the fluid component nearest the canal's centre line
    idx = np.argwhere(labels > 0)
    mid = (len(u) - 1) / 2
    nearest = idx[np.argmin(np.hypot(idx[:, 0] - mid, idx[:, 1] - mid))]
    if np.hypot(*(nearest - mid)) * cell > _value("max_seed_distance_mm"):
        return None
    sac = labels == labels[tuple(nearest)]
    area = float(sac.sum() * cell * cell)
    if area < _value("min_area_mm2"):
        return None
    xs, ys = np.nonzero(sac)
    width = float((np.ptp(xs) + 1) * cell)
    ap = float((np.ptp(ys) + 1) * cell)
    c = seed + x * (u[xs].mean()) + y * (u[ys].mean())
    return Canal(
        centre=(float(c[0]), float(c[1]), float(c[2])),
        ap_diameter_mm=ap,
        width_mm=width,
        area_mm2=area,
    )


def validity(image: Volume) -> str | None:
    """Why the density measurement cannot be made on ``image`` (not a CT, voxels too coarse:
    ``data/dural_sac.yaml``), or None when it can."""
    if image.modality != parameters()["modality"]["value"]:
        return f"the dural sac is measured by its density on CT only, not on {image.modality}"
    largest = float(np.max(image.spacing))
    limit = _value("max_voxel_mm")
    if largest > limit + 1e-6:
        return (
            f"dural sac not measured: voxels of {largest:.2f} mm exceed the {limit:g} mm at "
            "which the sac's edge is resolved (partial volume would decide the stenosis "
            "grade); a CT of 1.5 mm or finer, or an MR, measures it"
        )
    return None


def with_dural_sacs(ct: Volume, geometry: SpineGeometry) -> SpineGeometry:
    """The geometry with ``Disc.canal`` set to the dural sac measured on ``ct`` wherever it can
    be measured (discs already carrying a canal are kept); where ``ct`` is outside the
    measurement's validity, no disc gets one and the geometry's notes say why."""
    refused = validity(ct)
    if refused is not None:
        return geometry.model_copy(update={"notes": [*geometry.notes, refused]})
    discs = dict(geometry.discs)
    for name, disc in geometry.discs.items():
        if disc.canal is not None:
            continue
        sac = measure_dural_sac(ct, geometry, name)
        if sac is not None:
            discs[name] = disc.model_copy(update={"canal": sac})
    return geometry.model_copy(update={"discs": discs})
