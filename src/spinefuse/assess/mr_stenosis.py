"""Stenosis on MR: the dural sac's area and Schizas grade at each disc, the depth of each lateral
recess, and the Lee grade of each foramen from its perineural fat.

Methods, cut-offs and sources: blocks ``dural_sac``, ``schizas``, ``lateral_recess`` and
``foraminal_lee`` of ``data/mr_criteria.yaml``. Sections in the disc's frame
(:mod:`spinefuse.assess.mr_levels`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.assess.assessment import Measurement, NotMeasured
from spinefuse.assess.mr_levels import (
    STEP_MM,
    XS,
    YS,
    DiscSite,
    Outline,
    Pedicles,
    criteria,
    csf_reference,
    method,
    sample_image,
    sample_mask,
    source,
)
from spinefuse.imaging.mr_series import MrImage, MrSeries

SCHIZAS = ("A", "B", "C", "D")


def axial_t2(site: DiscSite, mr: MrSeries, max_voxel: float) -> MrImage | None:
    """The T2 series that resolves this disc's plane best: of those covering its centre, the one
    with the smallest voxel extent across the canal (along the disc frame's x and y), if at most
    ``max_voxel`` mm (an axial block through the disc, or a thin sagittal T2)."""
    best: tuple[float, MrImage] | None = None
    for im in mr.images:
        if im.weighting != "T2":
            continue
        vol = im.volume
        ijk = vol.world_to_voxel(site.centre[None])[0]
        if np.any(ijk < -0.5) or np.any(ijk > np.array(vol.shape) - 0.5):
            continue
        fine = max(im.extent_along(site.rot[:, 0]), im.extent_along(site.rot[:, 1]))
        if fine <= max_voxel and (best is None or fine < best[0]):
            best = (fine, im)
    return None if best is None else best[1]


def _sac_section(site: DiscSite) -> NDArray[np.bool_] | None:
    canal = site.spine.canal
    if canal is None:
        return None
    occ = np.mean(
        [sample_mask(site.spine.labels, canal, site.section(z)) for z in (-1.0, 0.0, 1.0)], axis=0
    )
    sac = occ >= 0.5
    lab, n = ndimage.label(sac)
    if n == 0:
        return None
    # the piece nearest the midline behind the disc
    gx, gy = np.meshgrid(XS, YS, indexing="ij")
    dist = np.where(sac, np.hypot(gx, gy), np.inf)
    k = lab.flat[int(np.argmin(dist))]
    return np.asarray(lab == k)


def measure_central(
    site: DiscSite, mr: MrSeries, ol: Outline | None
) -> tuple[list[Measurement], list[NotMeasured]]:
    """Dural sac area (mm²) and Schizas grade at one disc (or why not)."""
    level = site.segment
    out: list[Measurement] = []
    missing: list[NotMeasured] = []
    crit, scz = criteria("dural_sac"), criteria("schizas")
    labelled = mr.labelled_image
    assert labelled is not None
    sac = _sac_section(site)
    across = max(labelled.extent_along(site.rot[:, 0]), labelled.extent_along(site.rot[:, 1]))
    image = axial_t2(site, mr, scz["max_voxel_mm"])
    how = ""
    if sac is not None and across <= crit["max_label_voxel_mm"]:
        area = float(sac.sum() * STEP_MM * STEP_MM)
        how = "canal label"
    elif image is not None:
        region = _csf_region(site, image, ol)
        if region is None:
            reason = (
                "no CSF at the canal on the T2 and no canal label fine enough to outline the sac"
            )
            return out, [NotMeasured(name="mr_dural_sac_area", level=level, reason=reason)]
        area, how = float(region.sum() * STEP_MM * STEP_MM), f"CSF on {image.label()}"
    else:
        reason = (
            "no canal label finer than "
            f"{crit['max_label_voxel_mm']:g} mm across the canal and no axial T2"
        )
        return out, [NotMeasured(name="mr_dural_sac_area", level=level, reason=reason)]
    out.append(
        Measurement(
            name="mr_dural_sac_area",
            value=area,
            unit="mm2",
            level=level,
            normal_range=(crit["relative_mm2"], 400.0),
            method=method("dural_sac"),
            source=source("dural_sac"),
            detail={"from": "MR", "outline": how},
        )
    )
    if sac is None or image is None:
        why = "Schizas grading needs the canal label and a T2 fine across the canal"
        missing.append(NotMeasured(name="sac_csf_share", level=level, reason=why))
        return out, missing
    csf = csf_reference(site, image.volume, "T2")
    if csf is None:
        missing.append(NotMeasured(name="sac_csf_share", level=level, reason="no CSF reference"))
        return out, missing
    inner = ndimage.binary_erosion(sac, iterations=1)
    if inner.sum() < 4:
        inner = sac
    t2 = np.mean([sample_image(image.volume, site.section(z)) for z in (-0.5, 0.0, 0.5)], axis=0)
    share = float((t2[inner] > scz["csf_threshold"] * csf).mean())
    fat = _posterior_fat(site, mr, image, sac, csf)
    if share >= scz["grade_a_min_csf"]:
        grade = "A"
    elif share >= scz["grade_b_min_csf"]:
        grade = "B"
    else:
        grade = "C" if fat else "D"
    out.append(
        Measurement(
            name="sac_csf_share",
            value=share,
            unit="",
            level=level,
            method=method("schizas"),
            source=source("schizas"),
            detail={
                "schizas": grade,
                "posterior_fat": "yes" if fat else "no",
                "series": image.label(),
            },
        )
    )
    return out, missing


def _csf_region(site: DiscSite, image: MrImage, ol: Outline | None) -> NDArray[np.bool_] | None:
    csf = csf_reference(site, image.volume, "T2")
    t2 = sample_image(image.volume, site.section(0.0))
    if csf is None:
        csf = float(np.nanpercentile(t2, 99))
    bright = np.nan_to_num(t2) > criteria("schizas")["csf_threshold"] * csf
    if ol is not None:
        bright &= ~ol.mask
    lab, n = ndimage.label(bright)
    if n == 0:
        return None
    gx, gy = np.meshgrid(XS, YS, indexing="ij")
    behind = ol.posterior_y if ol is not None else -15.0
    target = np.hypot(gx, gy - (behind - 6.0))
    k = lab.flat[int(np.argmin(np.where(bright, target, np.inf)))]
    region = lab == k
    region = ndimage.binary_fill_holes(ndimage.binary_closing(region, iterations=4))
    return np.asarray(region)


def _posterior_fat(
    site: DiscSite, mr: MrSeries, t2: MrImage, sac: NDArray[np.bool_], csf: float
) -> bool:
    """Whether epidural fat lies behind the sac's middle half (bright on T1; on T2 without
    a T1)."""
    scz = criteria("schizas")
    gx, gy = np.meshgrid(XS, YS, indexing="ij")
    xs = gx[sac]
    half = 0.25 * (xs.max() - xs.min())
    back = np.full(len(XS), np.inf)
    for i in range(len(XS)):
        col = sac[i]
        if col.any():
            back[i] = YS[col].min()
    depth = back[:, None] - gy  # mm behind the sac's posterior edge
    band = (np.abs(gx) <= half) & (depth > 0.5) & (depth <= scz["fat_band_mm"]) & ~sac
    if band.sum() < 4:
        return False
    t1 = mr.first("sagittal", "T1")
    if t1 is not None:
        vals = np.mean([sample_image(t1.volume, site.section(z)) for z in (-0.5, 0.0, 0.5)], axis=0)
        ref = float(np.nanpercentile(np.asarray(t1.volume.array), 99))
        fat = np.nan_to_num(vals[band]) > criteria("foraminal_lee")["fat_threshold"] * ref
    else:
        vals = sample_image(t2.volume, site.section(0.0))
        fat = np.nan_to_num(vals[band]) > scz["csf_threshold"] * csf
    return bool(fat.mean() >= scz["fat_min_share"])


def measure_recesses(
    site: DiscSite, ol: Outline | None, ped: Pedicles | None, labelled: MrImage | None = None
) -> tuple[list[Measurement], list[NotMeasured]]:
    """The depth (mm) and grade of each lateral recess at the disc."""
    level = site.segment
    limit = criteria("lateral_recess")["max_voxel_ap_mm"]
    if labelled is not None and labelled.extent_along(site.rot[:, 1]) > limit:
        reason = (
            f"the labels ({labelled.label()}) have "
            f"{labelled.extent_along(site.rot[:, 1]):.1f} mm voxels front to back; the recess's "
            f"depth needs at most {limit:g} mm"
        )
        return [], [NotMeasured(name="lateral_recess_depth", level=level, reason=reason)]
    if ol is None or ped is None:
        reason = "the recess needs the disc-space outline and the pedicles in the labels"
        return [], [NotMeasured(name="lateral_recess_depth", level=level, reason=reason)]
    crit = criteria("lateral_recess")
    frac = criteria("zones")["central_max_pedicle_fraction"]
    spine = site.spine
    disc_key = spine.discs[site.segment]
    bone = [spine.vertebrae[n] for n in (site.upper, site.lower) if n in spine.vertebrae]
    back = np.arange(0.0, crit["open_mm"] + 1e-9, 0.25)
    out = []
    h = ol.half_height
    for side, sign in (("right", 1.0), ("left", -1.0)):
        xs = sign * np.arange(frac * ped.medial[side], 0.85 * ped.medial[side] + 1e-9, 0.5)
        depths = []
        for z in (0.0, 0.25 * h):
            sec = site.labels_at(site.section(z))
            # bone apart from the bodies in this section: the articular processes
            osseous = np.isin(sec, bone)
            lab, n = ndimage.label(osseous)
            within = ndimage.mean(ol.mask, lab, np.arange(1, n + 1)) if n else np.zeros(0)
            bodies = np.isin(lab, 1 + np.flatnonzero(np.asarray(within) >= 0.5))
            arch = osseous & ~bodies
            for x in xs:
                i = int(np.argmin(np.abs(XS - x)))
                col = sec[i]
                disc = np.flatnonzero(col == disc_key)
                if not len(disc):
                    continue
                y0 = YS[disc.min()]  # the back of the disc at this offset
                j = np.rint((y0 - back - YS[0]) / STEP_MM).astype(int)
                j = j[j >= 0]
                hit = np.flatnonzero(arch[i, j])
                depths.append(float(back[hit[0]]) if len(hit) else crit["open_mm"])
        if not depths:
            continue
        depth = float(min(depths))
        limits = crit["grades_mm"]
        grade = sum(depth < lim for lim in limits)
        out.append(
            Measurement(
                name="lateral_recess_depth",
                value=depth,
                unit="mm",
                level=level,
                normal_range=(limits[0], crit["open_mm"]),
                method=method("lateral_recess"),
                source=source("lateral_recess"),
                detail={"side": side, "grade": str(grade)},
            )
        )
    return out, []


def measure_foramina(
    site: DiscSite, mr: MrSeries, ol: Outline | None, ped: Pedicles | None
) -> tuple[list[Measurement], list[NotMeasured]]:
    """The Lee grade (0–3) of each foramen at the disc from perineural fat on sagittal T1."""
    level = site.segment
    crit = criteria("foraminal_lee")
    t1 = mr.first("sagittal", "T1")
    if t1 is None:
        reason = "Lee grading reads perineural fat on a sagittal T1; the study has none"
        return [], [NotMeasured(name="foraminal_lee_grade", level=level, reason=reason)]
    fine = max(t1.extent_along(site.rot[:, 1]), t1.extent_along(site.rot[:, 2]))
    if fine > crit["max_voxel_mm"]:
        reason = f"{t1.label()} has {fine:.1f} mm voxels in the foramen's plane"
        return [], [NotMeasured(name="foraminal_lee_grade", level=level, reason=reason)]
    if ol is None or ped is None:
        reason = "the foramen needs the disc-space outline and the pedicles in the labels"
        return [], [NotMeasured(name="foraminal_lee_grade", level=level, reason=reason)]
    ref = float(np.nanpercentile(np.asarray(t1.volume.array), 99))
    spine = site.spine
    structures = set(spine.vertebrae.values()) | set(spine.discs.values())
    step = 0.4
    ys = np.arange(-35.0, 5.0 + 1e-9, step)
    zs = np.arange(-15.0, 25.0 + 1e-9, step)
    gy, gz = np.meshgrid(ys, zs, indexing="ij")
    out = []
    for side, sign in (("right", 1.0), ("left", -1.0)):
        x = sign * 0.5 * (ped.medial[side] + ped.lateral[side])
        pts = site.world(np.full_like(gy, x), gy, gz)
        labels = site.labels_at(pts)
        free = ~np.isin(labels, list(structures)) & (labels >= 0)
        # the foramen: from a seed just behind the disc's margin at its upper surface, up to the
        # upper pedicle, down to the lower one, forward to the disc or body and back to the
        # articular processes (at most 10 mm); the free pixels inside that box
        si = int(np.argmin(np.abs(ys - (ol.posterior_y - 3.0))))
        sj = int(np.argmin(np.abs(zs - ol.half_height)))
        if not free[si, sj]:
            continue
        solid = ~free

        def run(line: NDArray[np.bool_]) -> int:
            hit = np.flatnonzero(line)
            return int(hit[0]) if len(hit) else len(line)

        top = sj + run(solid[si, sj:])
        bottom = sj - run(solid[si, sj::-1][0:])
        front = si + run(solid[si:, sj])
        back = si - min(run(solid[si::-1, sj]), int(round(10.0 / step)))
        grow = int(round(2.0 / step))  # the walls are not flat: 2 mm more all round
        box = np.zeros_like(free)
        box[max(back - grow, 0) : front + grow, max(bottom - grow, 0) : top + grow] = True
        foramen = free & box
        vals = np.nan_to_num(sample_image(t1.volume, pts))
        fat = foramen & (vals > crit["fat_threshold"] * ref)
        rootish = foramen & (vals > crit["root_threshold"] * ref) & ~fat
        rl, rn = ndimage.label(rootish)
        if rn == 0:
            out.append(_lee(level, side, 2, "no root found among the foramen's soft tissue", 0))
            continue
        # the root: the largest such piece enclosed in the foramen (one touching the foramen's
        # edge is the muscle or ligament around it)
        sizes = np.bincount(rl.ravel(), minlength=rn + 1)[1:].astype(float)
        rim = foramen & ~ndimage.binary_erosion(foramen)
        touching = np.unique(rl[rim & (rl > 0)])
        enclosed = sizes.copy()
        enclosed[touching - 1] = 0.0
        root = rl == (int(np.argmax(enclosed if enclosed.max() > 0 else sizes)) + 1)
        ry, rz = gy[root], gz[root]
        cy, cz = float(ry.mean()), float(rz.mean())
        lost = 0
        without = []
        for label, dy, dz in (("up", 0, 1), ("down", 0, -1), ("forward", 1, 0), ("back", -1, 0)):
            edge = 0.0
            while True:
                yy, zz = cy + dy * edge, cz + dz * edge
                i, j = int(round((yy - ys[0]) / step)), int(round((zz - zs[0]) / step))
                if not (0 <= i < len(ys) and 0 <= j < len(zs)) or not root[i, j]:
                    break
                edge += step
            found = False
            for r in np.arange(edge, edge + crit["ray_mm"] + 1e-9, step):
                i, j = (
                    int(round((cy + dy * r - ys[0]) / step)),
                    int(round((cz + dz * r - zs[0]) / step)),
                )
                if 0 <= i < len(ys) and 0 <= j < len(zs) and fat[i, j]:
                    found = True
                    break
            lost += not found
            if not found:
                without.append(label)
        cov = np.cov(np.stack([ry, rz])) if root.sum() > 2 else np.eye(2)
        ev = np.sort(np.linalg.eigvalsh(cov))
        aspect = float(np.sqrt(max(ev[0], 1e-9) / max(ev[1], 1e-9)))
        grade = 0 if lost == 0 else 1 if lost < 4 else 2
        if grade == 2 and aspect < crit["deformed_aspect"]:
            grade = 3
        text = (
            f"perineural fat missing in {lost} of 4 directions"
            + (f" ({', '.join(without)})" if without else "")
            + f"; root aspect {aspect:.2f}"
        )
        out.append(_lee(level, side, grade, text, lost, aspect))
    return out, []


def _lee(
    level: str, side: str, grade: int, text: str, lost: int, aspect: float | None = None
) -> Measurement:
    detail = {"side": side, "directions_without_fat": str(lost), "finding": text}
    if aspect is not None:
        detail["root_aspect"] = f"{aspect:.2f}"
    return Measurement(
        name="foraminal_lee_grade",
        value=float(grade),
        unit="",
        level=level,
        method=method("foraminal_lee"),
        source=source("foraminal_lee"),
        detail=detail,
    )
