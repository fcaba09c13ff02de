"""Window statistics, the same definitions as src/inference/features.rs (see there).

Used by the training scripts and by tests/features_parity.rs, which runs

    python models/train/features.py --csv IN.csv

and compares each printed value with the Rust code on the same windows. IN.csv has one
window per row (values separated by commas); optional leading columns
`stat,lo,hi,fs` select the statistic (lo/hi/fs only for band_energy; for shift_z the `lo`
column holds `recent`).
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

STATISTICS = ("mean", "std", "rms", "peak", "crest_factor", "kurtosis", "slope", "band_energy", "shift_z")


def mean(x: np.ndarray) -> float:
    return float(np.mean(x))


def std(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean((x - np.mean(x)) ** 2)))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x)))


def peak(x: np.ndarray) -> float:
    return float(np.max(np.abs(x)))


def crest_factor(x: np.ndarray) -> float:
    r = rms(x)
    return peak(x) / r if r > 0 else math.nan


def kurtosis(x: np.ndarray) -> float:
    d = x - np.mean(x)
    m2 = float(np.mean(d**2))
    if m2 <= 0:
        return math.nan
    return float(np.mean(d**4)) / (m2 * m2) - 3.0


def slope(x: np.ndarray) -> float:
    n = len(x)
    if n < 2:
        return math.nan
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    return float(np.sum(t * (x - np.mean(x))) / np.sum(t * t))


def band_energy(x: np.ndarray, lo: float, hi: float, fs: float) -> float:
    n = len(x)
    spec = np.fft.rfft(x)
    power = np.abs(spec) ** 2 / (n * n)
    k = np.arange(len(spec))
    double = (k != 0) & ~((n % 2 == 0) & (k == n // 2))
    power = np.where(double, 2 * power, power)
    f = k * fs / n
    return float(np.sum(power[(f >= lo) & (f < hi)]))


def shift_z(x: np.ndarray, recent: int) -> float:
    """Mean of the last `recent` samples minus the mean of the ones before, over their std."""
    n = len(x)
    if recent < 1 or n < recent + 2:
        return math.nan
    ref, last = x[: n - recent], x[n - recent :]
    sd = std(ref)
    return (mean(last) - mean(ref)) / sd if sd > 0 else math.nan


def compute(stat: str, x, band: tuple[float, float, float] | None = None, recent: int | None = None) -> float:
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return math.nan
    if stat == "shift_z":
        return math.nan if recent is None else shift_z(x, recent)
    if stat == "band_energy":
        if band is None:
            return math.nan
        return band_energy(x, *band)
    return {
        "mean": mean,
        "std": std,
        "rms": rms,
        "peak": peak,
        "crest_factor": crest_factor,
        "kurtosis": kurtosis,
        "slope": slope,
    }[stat](x)


def rolling(stat: str, x, window: int, band=None, recent=None) -> np.ndarray:
    """The statistic over every window of `window` samples ending at each index (NaN before)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(len(x), math.nan)
    for i in range(window - 1, len(x)):
        out[i] = compute(stat, x[i - window + 1 : i + 1], band, recent)
    return out


def place(f: dict, v: float) -> str | None:
    """Where a manifest feature's value lies, as the daemon judges it (src/inference/manifest.rs
    `FeatureSpec::place`): None when it is scored, "out_of_domain" outside valid_min..valid_max
    (or NaN), "untrained" beyond trained_min..trained_max on a side `extrapolate` does not name."""
    if not (v >= f["valid_min"] and v <= f["valid_max"]):
        return "out_of_domain"
    if f["trained_min"] <= v <= f["trained_max"]:
        return None
    side = f.get("extrapolate", "none")
    above = v > f["trained_max"]
    return None if side == "both" or side == ("above" if above else "below") else "untrained"


def trained_range(x: np.ndarray, decimals: int) -> tuple[float, float]:
    """A feature's range over the windows the model was built from, rounded outward."""
    f = 10**decimals
    return (math.floor(round(float(np.min(x)) * f, 6)) / f, math.ceil(round(float(np.max(x)) * f, 6)) / f)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True)
    args = ap.parse_args(argv)
    with open(args.csv) as f:
        for line in f:
            cols = line.strip().split(",")
            if not cols or not cols[0]:
                continue
            stat = cols[0]
            lo, hi, fs = (float(c) if c else None for c in cols[1:4])
            band = (lo, hi, fs) if stat == "band_energy" else None
            recent = int(lo) if stat == "shift_z" and lo is not None else None
            xs = [float(c) for c in cols[4:]]
            print(repr(compute(stat, xs, band, recent)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
