"""Tissue differentiation in a graft region under a mechano-regulation rule.

A graft region holds fractions of five tissues (:data:`~spinefuse.healing.parameters.TISSUES`:
granulation, fibrous, cartilage, immature and mature bone) that sum to one. Each day the
mechanical stimulus decides which phenotype the cells head for, and tissue moves between the
fractions at rates that the stimulus gates and the patient's biology scales:

* Lacroix & Prendergast (2002): ``S = gamma_oct / 0.0375 + v / 3 µm/s`` with the bands
  fibrous > 3 > cartilage > 1 > immature bone > 0.53 > mature bone > 0.01 > resorption.
* Claes & Heigele (1999): intramembranous bone for small strain and pressure, endochondral
  (cartilage) for compressive pressure at moderate strain, connective tissue otherwise.

Both rules return *memberships*: a smooth (logistic in ln S) share of each band, so an ensemble
member's course varies smoothly with its loads. All functions broadcast over leading axes
(members, regions); the last axis is the tissue or band axis of length 5.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from spinefuse.healing.parameters import HealingParameters

FloatArray = NDArray[np.float64]
Rule = Literal["lacroix_prendergast", "claes_heigele"]
RULES: tuple[Rule, Rule] = ("lacroix_prendergast", "claes_heigele")

GRANULATION, FIBROUS, CARTILAGE, IMMATURE, MATURE = range(5)
BONE = (IMMATURE, MATURE)


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def lacroix_stimulus(
    shear_strain: FloatArray, fluid_velocity_um_s: FloatArray, params: HealingParameters
) -> FloatArray:
    """Lacroix–Prendergast stimulus S (dimensionless) from octahedral shear strain and
    interstitial fluid velocity (µm/s); any matching shapes."""
    s: FloatArray = np.abs(shear_strain) / params.shear_strain_ref + np.abs(fluid_velocity_um_s) / (
        params.fluid_velocity_ref_um_s
    )
    return s


def lacroix_membership(stimulus: FloatArray, params: HealingParameters) -> FloatArray:
    """Share of each phenotype band for stimulus S, shape ``S.shape + (5,)``.

    Band order follows the tissue axis: 0 resorption (back to granulation/marrow), 1 fibrous,
    2 cartilage, 3 immature bone, 4 mature bone. The shares sum to one (telescoping logistic
    edges at the published thresholds, width ``band_width`` in ln S)."""
    w = params.band_width
    log_s = np.log(np.maximum(stimulus, 1e-12))[..., None]
    edges = np.log(np.asarray(params.thresholds))  # fibrous, cartilage, immature, resorption
    above = _sigmoid((log_s - edges) / w)  # P(S above each edge), decreasing along the axis
    out = np.empty(stimulus.shape + (5,))
    out[..., FIBROUS] = above[..., 0]
    out[..., CARTILAGE] = above[..., 1] - above[..., 0]
    out[..., IMMATURE] = above[..., 2] - above[..., 1]
    out[..., MATURE] = above[..., 3] - above[..., 2]
    out[..., GRANULATION] = 1.0 - above[..., 3]
    return out


def claes_heigele_membership(
    strain: FloatArray, pressure_mpa: FloatArray, params: HealingParameters
) -> FloatArray:
    """Claes–Heigele phenotype shares for distortional strain and hydrostatic pressure (MPa,
    compression negative), shape ``strain.shape + (5,)`` in the band order of
    :func:`lacroix_membership`.

    Intramembranous ossification (|strain| < 5 %, |p| < 0.15 MPa) feeds the bone bands (woven
    bone forms and matures under the same small loads); endochondral (p < -0.15 MPa, |strain| <
    15 %) feeds cartilage; anything else gives connective (fibrous) tissue."""
    w = params.band_width
    log_e = np.log(np.maximum(np.abs(strain), 1e-12))
    small_strain = _sigmoid((np.log(params.ch_strain_intramembranous) - log_e) / w)
    moderate_strain = _sigmoid((np.log(params.ch_strain_endochondral) - log_e) / w)
    log_p = np.log(np.maximum(np.abs(pressure_mpa), 1e-12))
    small_pressure = _sigmoid((np.log(params.ch_pressure_mpa) - log_p) / w)
    compressive = (np.asarray(pressure_mpa) < 0).astype(float)
    intramembranous = small_strain * small_pressure
    endochondral = moderate_strain * (1.0 - small_pressure) * compressive
    out = np.zeros(np.shape(strain) + (5,))
    out[..., MATURE] = intramembranous
    out[..., CARTILAGE] = endochondral
    out[..., FIBROUS] = 1.0 - intramembranous - endochondral
    return out


def initial_fractions(shape: tuple[int, ...]) -> FloatArray:
    """Tissue fractions on the day of surgery: the graft bed is all granulation tissue (the
    graft is a scaffold; what it brings acts through the biology multiplier)."""
    f = np.zeros(shape + (5,))
    f[..., GRANULATION] = 1.0
    return f


def step_fractions(
    fractions: FloatArray,
    membership: FloatArray,
    osteogenic: FloatArray,
    params: HealingParameters,
    dt_days: float = 1.0,
) -> FloatArray:
    """Advance tissue fractions by ``dt_days`` (explicit step of the transition network).

    ``fractions`` and ``membership`` are ``(..., 5)``; ``osteogenic`` broadcasts to ``(...)``
    and multiplies every chondrogenic and osteogenic rate (graft, smoking, age, graft bed).
    Fibrous tissue forms, and bone is lost to fibrous tissue, at rates the biology does not
    scale: a slow biology loses the race against an unstable mechanical environment."""
    k = params.rates_per_day
    g, f, c, i, m = (fractions[..., t] for t in range(5))
    mu_r, mu_f, mu_c, mu_i, mu_m = (membership[..., t] for t in range(5))
    mu_bone = mu_i + mu_m
    bio = np.broadcast_to(osteogenic, g.shape)
    g_f = k["granulation_to_fibrous"] * mu_f * g
    g_c = k["granulation_to_cartilage"] * mu_c * bio * g
    g_i = k["granulation_to_immature_bone"] * mu_bone * bio * g
    f_c = k["fibrous_to_cartilage"] * mu_c * bio * f
    f_i = k["fibrous_to_immature_bone"] * mu_bone * bio * f
    c_i = k["cartilage_to_immature_bone"] * mu_bone * bio * c
    i_m = k["immature_to_mature_bone"] * mu_m * bio * i
    to_fibrous = k["bone_to_fibrous"] * mu_f
    c_f, i_f, m_f = to_fibrous * c, to_fibrous * i, to_fibrous * m
    i_g = k["bone_resorption"] * mu_r * i
    m_g = k["bone_resorption"] * mu_r * m
    out = np.empty_like(fractions)
    out[..., GRANULATION] = g + dt_days * (i_g + m_g - g_f - g_c - g_i)
    out[..., FIBROUS] = f + dt_days * (g_f + c_f + i_f + m_f - f_c - f_i)
    out[..., CARTILAGE] = c + dt_days * (g_c + f_c - c_i - c_f)
    out[..., IMMATURE] = i + dt_days * (g_i + f_i + c_i - i_m - i_f - i_g)
    out[..., MATURE] = m + dt_days * (i_m - m_f - m_g)
    np.clip(out, 0.0, 1.0, out=out)
    out /= _last_axis_sum(out)[..., None]
    return out


def _last_axis_sum(a: FloatArray, weights: FloatArray | None = None) -> FloatArray:
    """Sum over the short last axis by explicit additions: faster than a reduction there, and
    each element's value does not depend on the array's size."""
    total = a[..., 0] if weights is None else a[..., 0] * weights[0]
    for j in range(1, a.shape[-1]):
        total = total + (a[..., j] if weights is None else a[..., j] * weights[j])
    out: FloatArray = np.asarray(total, dtype=float)
    return out


def bone_fraction(fractions: FloatArray) -> FloatArray:
    """Immature plus mature bone: what a CT reads as bone in the graft region, ``(...)``."""
    b: FloatArray = fractions[..., IMMATURE] + fractions[..., MATURE]
    return b


def mixture_modulus(fractions: FloatArray, params: HealingParameters) -> FloatArray:
    """Rule-of-mixtures Young's modulus of the region (MPa), ``(...)``.

    Explicit additions rather than a matrix product, so a member's value is the same whatever
    the number of rows (BLAS kernels may round differently with the array size)."""
    e: FloatArray = _last_axis_sum(fractions, params.modulus_mpa)
    return e


def fusion_state(modulus_mpa: FloatArray, params: HealingParameters) -> FloatArray:
    """The mechanics' fusion state phi in 0–1 for a fusion mass of modulus ``modulus_mpa``.

    The mechanics stiffens the fusion mass as ``E_mature * phi^n``; inverting that law makes the
    mass it models carry exactly the tissues' rule-of-mixtures modulus."""
    x = np.clip(modulus_mpa / params.modulus_mpa[MATURE], 0.0, 1.0)
    phi: FloatArray = x ** (1.0 / params.fusion_state_exponent)
    return phi
