"""Mechanics maths shared by the stages: stiffness tensor from LAMMPS stresses, isotropic moduli,
stress-strain metrics.

It sits below both ``simulate`` (the elastic protocol turns its stresses into C_ij here) and ``validate``
(the property tables fit the stress-strain curves here), so neither stage imports the other for it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .units import BAR_TO_GPA

__all__ = ["stiffness_from_stresses", "isotropic_moduli", "smooth_stress", "fracture_metrics"]


def stiffness_from_stresses(rows: np.ndarray, strain: float) -> np.ndarray:
    """6x6 stiffness (GPa, Voigt xx yy zz yz xz xy) from the elastic input's pressure rows.

    ``rows`` holds ``dir sign pxx pyy pzz pyz pxz pxy`` (bar) for the 12 deformations (the row with
    dir 0 is the reference and is not needed with central differences). Stress is sigma = -p, so
    C_ij = -(p_i(+e_j) - p_i(-e_j)) / (2 e). The tensor is symmetrised.
    """
    rows = np.asarray(rows, float)
    C = np.full((6, 6), np.nan)
    for j in range(1, 7):
        plus = rows[(rows[:, 0] == j) & (rows[:, 1] > 0)]
        minus = rows[(rows[:, 0] == j) & (rows[:, 1] < 0)]
        if len(plus) != 1 or len(minus) != 1:
            raise ValueError(f"elastic stresses: expected one +/- pair for direction {j}, got {len(plus)}/{len(minus)}")
        C[:, j - 1] = -(plus[0, 2:8] - minus[0, 2:8]) / (2.0 * strain) * BAR_TO_GPA
    return 0.5 * (C + C.T)


def isotropic_moduli(C: np.ndarray) -> dict:
    """Voigt-Reuss-Hill bulk and shear moduli, Young's modulus and Poisson ratio (GPa)."""
    C = np.asarray(C, float)
    kv = (C[0, 0] + C[1, 1] + C[2, 2] + 2 * (C[0, 1] + C[0, 2] + C[1, 2])) / 9.0
    gv = ((C[0, 0] + C[1, 1] + C[2, 2]) - (C[0, 1] + C[0, 2] + C[1, 2]) + 3 * (C[3, 3] + C[4, 4] + C[5, 5])) / 15.0
    try:
        S = np.linalg.inv(C)
        kr = 1.0 / (S[0, 0] + S[1, 1] + S[2, 2] + 2 * (S[0, 1] + S[0, 2] + S[1, 2]))
        gr = 15.0 / (4 * (S[0, 0] + S[1, 1] + S[2, 2]) - 4 * (S[0, 1] + S[0, 2] + S[1, 2])
                     + 3 * (S[3, 3] + S[4, 4] + S[5, 5]))
    except np.linalg.LinAlgError:
        kr = gr = math.nan
    k, g = 0.5 * (kv + kr), 0.5 * (gv + gr)
    e = 9 * k * g / (3 * k + g)
    nu = (3 * k - 2 * g) / (2 * (3 * k + g))
    return {"K_GPa": float(k), "G_GPa": float(g), "E_GPa": float(e), "nu": float(nu),
            "K_voigt_GPa": float(kv), "G_voigt_GPa": float(gv)}


def smooth_stress(strain: np.ndarray, stress: np.ndarray, window_strain: float, polyorder: int = 2) -> np.ndarray:
    """Savitzky-Golay smoothing (scipy, local polynomial of ``polyorder``) over ``window_strain`` of strain.

    The window holds the odd number of points closest to ``window_strain`` / (median strain step), at
    least ``polyorder + 2``; a curve shorter than that is returned unchanged. 0 disables smoothing.
    """
    from scipy.signal import savgol_filter

    strain, stress = np.asarray(strain, float), np.asarray(stress, float)
    if window_strain <= 0 or len(strain) < polyorder + 2:
        return stress.copy()
    step = float(np.median(np.diff(strain))) if len(strain) > 1 else 0.0
    if step <= 0:
        return stress.copy()
    n = int(round(window_strain / step))
    n = max(n, polyorder + 2)
    n += (n + 1) % 2  # odd
    if n > len(stress):
        n = len(stress) - (1 - len(stress) % 2)
    if n <= polyorder:
        return stress.copy()
    return savgol_filter(stress, n, polyorder, mode="interp")


def fracture_metrics(curve: pd.DataFrame, modulus_max_strain: float, fracture_drop: float,
                     smoothing_strain: float) -> dict:
    """Young's modulus (linear fit up to ``modulus_max_strain``), UTS, strain at UTS, fracture strain.

    UTS, its strain and the fracture strain come from the curve smoothed by :func:`smooth_stress` over
    ``smoothing_strain`` (the raw maximum of a noisy small-cell curve is biased upward by the thermal
    stress noise); the raw maximum is kept as ``UTS_raw_GPa``. The fracture strain is the first strain
    after the UTS at which the smoothed stress falls below ``fracture_drop`` x UTS (linearly
    interpolated); NaN if the sample never breaks within the run.
    """
    strain = curve["strain"].to_numpy(float)
    raw = curve["szz_GPa"].to_numpy(float)
    if len(strain) < 3:
        raise ValueError("stress-strain curve has fewer than 3 points")
    lin = strain <= modulus_max_strain
    if lin.sum() < 3:
        lin = np.arange(len(strain)) < 3
    slope = np.polyfit(strain[lin], raw[lin], 1)[0]
    stress = smooth_stress(strain, raw, smoothing_strain)
    i_uts = int(np.argmax(stress))
    uts = float(stress[i_uts])
    frac = math.nan
    below = np.nonzero(stress[i_uts:] < fracture_drop * uts)[0]
    if len(below):
        k = i_uts + int(below[0])
        s0, s1, e0, e1 = stress[k - 1], stress[k], strain[k - 1], strain[k]
        target = fracture_drop * uts
        frac = float(e0 + (target - s0) * (e1 - e0) / (s1 - s0)) if s1 != s0 else float(e1)
    return {"E_GPa": float(slope), "UTS_GPa": uts, "strain_at_UTS": float(strain[i_uts]), "fracture_strain": frac,
            "UTS_raw_GPa": float(raw.max()), "uts_smoothing_strain": float(smoothing_strain)}

