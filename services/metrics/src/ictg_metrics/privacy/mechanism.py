"""The mechanisms of `disclosure=dp`, with OpenDP: noisy counts (discrete Laplace) and quantiles (OpenDP's
exponential-mechanism quantile over a fixed grid), each calibrated so that the privacy loss of a whole
answer is at most the epsilon it is charged. Pure: no I/O, nothing stored.

Neighbouring data sets differ by one child (added or removed). The L1 sensitivity of an answer is the
most its vector of counts can move when one child is added: the number of counts one child can add 1 to.
- `children`: a child is in one cell per grouping dimension's value, but in a cell per value of each
  multi-valued dimension it is grouped by (`exploitation_type`, `topic`, `legal_advice_area`,
  `cjs_involvement`: every listed value at most), so `product of those dimensions' values`, plus 1 for the
  total (distinct children). Ungrouped: the total alone, 1.
- `caseload` over M months: per group a child is received in at most one month, exits in at most one, and
  is in service at the end of at most M: 2 + M, times the multi-valued product.
- `timeliness`: per group every count a child can add to (children, each statistic's count, each
  deadline's met and decided: `TIMELINESS_COUNTS`), times the multi-valued product.
The noise's scale is sensitivity / epsilon; OpenDP's own privacy map (`Measurement.map`) checks, at every
answer, that the loss is at most the epsilon charged (an `AssertionError` otherwise: a bug, never sent).

OpenDP draws its noise from a cryptographically secure generator: it cannot be seeded, so neither can these
functions (tests check the noise's distribution from many draws).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import opendp.prelude as dp
from opendp.accuracy import discrete_laplacian_scale_to_accuracy

from ..children.caseload import FLOWS, STOCKS
from ..children.timeliness import QUANTILES, STATS, TIMELINESS_COUNTS
from ..dimensions import DIMENSIONS

dp.enable_features("contrib")  # OpenDP's mechanisms are "contrib": proven, and vetted in its proofs' documents

MECHANISM = "discrete_laplace"
SMALL = 10
"""A noisy count under this is shown (post-processing is safe) but flagged: its noise is large beside it."""
QUANTILE_SHARE = 0.5
"""The share of a timeliness answer's epsilon spent on its quantiles; the counts get the rest."""
QUANTILE_ALPHAS = {"median": 0.5, "p75": 0.75, "p90": 0.9}
assert tuple(QUANTILE_ALPHAS) == QUANTILES


def multi_values(group_by: Sequence[str]) -> int:
    """How many cells of a grouping one child can be in: the product of the number of listed values of each
    multi-valued dimension grouped by (1 when there is none)."""
    return math.prod(len(DIMENSIONS[g].values or ()) for g in group_by if DIMENSIONS[g].multi)


def children_sensitivity(group_by: Sequence[str]) -> int:
    """Cells and total of `/children`: ungrouped the total alone."""
    return multi_values(group_by) + 1 if group_by else 1


def caseload_sensitivity(group_by: Sequence[str], months: int) -> int:
    """`/caseload` over `months` months: per group each flow in one month, each stock in every month."""
    return multi_values(group_by) * (len(FLOWS) + len(STOCKS) * months)


def timeliness_sensitivity(group_by: Sequence[str]) -> int:
    """`/timeliness`: per group every count a child adds to."""
    return multi_values(group_by) * len(TIMELINESS_COUNTS)


def quantile_releases(group_by: Sequence[str]) -> int:
    """How many quantiles of a `/timeliness` answer one child can change: each quantile of each statistic of
    every group it is in."""
    return multi_values(group_by) * len(STATS) * len(QUANTILES)


@lru_cache(maxsize=256)  # a few epsilons in use: built once each
def _laplace(scale: float) -> Any:
    domain = dp.vector_domain(dp.atom_domain(T=int))
    return dp.m.make_laplace(domain, dp.l1_distance(T=int), scale=scale)


@dataclass(frozen=True)
class Calibration:
    """The noise of one answer's counts: epsilon spent on them, their L1 sensitivity, the discrete Laplace
    scale, and the half-width of a 95 % interval (a noisy count is within it of the true one 95 % of the
    time, before clipping at 0, which only brings a count closer to a true count of 0 or more)."""

    epsilon: float
    sensitivity: int
    scale: float
    interval_95: int

    def describe(self) -> dict[str, Any]:
        return {"mechanism": MECHANISM, "epsilon": self.epsilon, "sensitivity": self.sensitivity,
                "scale": round(self.scale, 6), "interval_95": self.interval_95}  # fmt: skip


def calibrate(epsilon: float, sensitivity: int) -> Calibration:
    """The discrete Laplace noise that spends at most `epsilon` on counts of L1 sensitivity `sensitivity`,
    proven by OpenDP's privacy map."""
    if not (epsilon > 0 and math.isfinite(epsilon)) or sensitivity < 1:
        raise ValueError(f"epsilon {epsilon!r} and sensitivity {sensitivity!r} must be positive")
    scale = sensitivity / epsilon
    while _laplace(scale).map(d_in=sensitivity) > epsilon:  # floating point: a scale a hair too small
        scale = math.nextafter(scale, math.inf)
    loss = _laplace(scale).map(d_in=sensitivity)
    assert loss <= epsilon, f"privacy loss {loss} over the epsilon charged {epsilon}"
    accuracy = discrete_laplacian_scale_to_accuracy(scale, alpha=0.05)
    return Calibration(epsilon=epsilon, sensitivity=sensitivity, scale=scale, interval_95=math.floor(accuracy))


def noisy_counts(counts: Sequence[int], calibration: Calibration) -> list[int]:
    """Each count plus independent discrete Laplace noise of the calibration's scale, then clipped at 0
    (post-processing: it spends nothing)."""
    if not counts:
        return []
    noisy = _laplace(calibration.scale)([int(c) for c in counts])
    return [max(0, int(v)) for v in noisy]


def laplace_noise(n: int, scale: float) -> list[int]:
    """`n` draws of the noise alone (unclipped): what `noisy_counts` adds to each count."""
    return [int(v) for v in _laplace(scale)([0] * n)]


Steps = tuple[tuple[int, int, int], ...]  # (start, stop, step) of `range`s
DAY_STEPS: Steps = ((0, 15, 1), (15, 60, 5), (60, 180, 10), (180, 366, 30))
HOUR_STEPS: Steps = ((0, 48, 1), (48, 168, 6), (168, 720, 24), (720, 2161, 168))


def _grid(steps: Steps) -> tuple[float, ...]:
    return tuple(float(v) for start, stop, step in steps for v in range(start, stop, step))


def grid_text(steps: Steps) -> str:
    """A grid in words: `0-14 by 1, 15-55 by 5, …`."""
    return ", ".join(f"{a}-{range(a, b, s)[-1]} by {s}" for a, b, s in steps)


DAYS, HOURS = _grid(DAY_STEPS), _grid(HOUR_STEPS)
CANDIDATES = {"referral_delay_days": DAYS, "referral_delay_working_days": DAYS, "hours_to_allocation": HOURS,
              "hours_to_first_contact": HOURS, "days_to_first_contact": DAYS}  # fmt: skip
"""The values a quantile under dp can take, per statistic: fixed in advance (a grid that depended on the data
would disclose it); a value beyond the last counts as the last."""
assert set(CANDIDATES) == set(STATS)


@lru_cache(maxsize=256)  # a few epsilons in use: built once each
def _quantile(statistic: str, alpha: float, scale: float) -> Any:
    return dp.m.make_private_quantile(
        dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance(), dp.max_divergence(),
        candidates=list(CANDIDATES[statistic]), alpha=alpha, scale=scale,
    )  # fmt: skip


@lru_cache(maxsize=256)  # a few epsilons in use: built once each
def quantile_scale(statistic: str, alpha: float, epsilon: float) -> float:
    """The scale at which one quantile of `statistic` spends at most `epsilon` when one value is added or
    removed (OpenDP's privacy map, which is linear in 1/scale)."""
    scale = _quantile(statistic, alpha, 1.0).map(d_in=1) / epsilon
    while _quantile(statistic, alpha, scale).map(d_in=1) > epsilon:
        scale = math.nextafter(scale, math.inf)
    return scale


def private_quantile(statistic: str, values: Sequence[float], *, alpha: float, epsilon: float) -> float:
    """The `alpha` quantile of `values` (one per child), chosen from the statistic's candidates by OpenDP's
    exponential mechanism spending at most `epsilon`. Every cell gets one, an empty one too (a candidate
    drawn at random): leaving it out would say the cell is empty."""
    measurement = _quantile(statistic, alpha, quantile_scale(statistic, alpha, epsilon))
    assert measurement.map(d_in=1) <= epsilon
    return float(measurement([float(v) for v in values]))
