"""The noisy ptable that the cell key method publishes through by default (`ictg_noise_d5`).

Why noise. ONS's "10-5" ptable withholds counts under 10 and rounds the rest to 5: a published value
is then a function of the true count alone, so overlapping tables can be differenced back to a withheld
count exactly. Here a published value is `count + v`, with `v` drawn by the cell's key (the sum of
its children's secret record keys, mod 256) from a fixed, published distribution, in the shape of
ONS's Census 2021 ptables: small zero-mean noise of stated maximum and variance, nothing published
under 10. The same cell always has the same key, hence the same value: asking again gives nothing new.

The table, rows (`pcv`, `ckey`, `pvalue`) for pcv 1..750 and ckey 0..255 (counts above 750 reuse rows
501..750, folded by the cell key method itself, as ONS's package does):

- pcv 1..9 (under the threshold, 10): `pvalue = -pcv` for every key. A count of 1-9 becomes 0 and is
  withheld exactly as an empty cell is (which has no row and gets 0): 0 and 1-9 read the same.
- pcv >= 10: `pvalue` in -5..5 with these counts of the 256 keys, the same for every pcv:

      v      0   ±1   ±2   ±3   ±4   ±5
      keys  52   45   31   17    7    2

  i.e. a Gaussian of sigma 2 on -5..5, quantised to k/256: `round(256 * p(v))` keys for each v != 0
  (at least 1, so that the stated maximum is reached), the rest (52, an even number) for 0. The counts
  are symmetric, so the mean over the 256 keys is exactly 0 at every pcv, and the variance is exactly
  2 * (45*1 + 31*4 + 17*9 + 7*16 + 2*25) / 256 = 968/256 = 3.78125 (sd 1.94).
  `count + v` under 10 is withheld, so counts of 10-14 are sometimes withheld (a count of 10 with
  probability 102/256, 14 with 2/256), and published values of 10-14 lean high: only counts of 10 and
  more can give them.

Why these parameters. A maximum of 5 (D) and a sigma of 2: at sigma 2 the Gaussian's mass beyond ±5
is about 1 %, so truncating there changes little, and a published value is within 5 of the truth (a
cell of 100 within 5 %, its sd 2 %). A published value p >= 15 is consistent with the 11 counts p-5..p+5
(p of 10-14 with the counts 10..p+5), none of them more likely than 52/256 = 20 % (with no prior on
the count): a published value never pins a count, and a difference of two published values carries
noise of variance 7.56 (sd 2.75). Noise of sd 2 is not a defence against averaging many overlapping
cells; the fixed catalogue of published tables is. A larger sigma would need a larger D and would make
the small cells of local tables (10-30) much less useful.

How keys map to values. ONS and Destatis give each value a range of keys by cumulative probability
(here keys 0-1 would give -5 at every pcv, keys 254-255 +5). This table gives the ranges to key
*ranks* instead, the keys ranked in a fixed pseudo-random order of their own at each pcv: at pcv `n`,
key `k` is ranked by the `k`-th 32-bit big-endian word of SHAKE-256(`"{SEED}/{n}"`) (1,024 bytes;
equal words by the key), and the key of rank `r` gets the value the cumulative ranges give `r`. So:
- every pcv keeps exactly the counts above, hence the same mean (0), maximum (5) and variance;
- a key does not give the same noise at every count. With plain ranges the noise would be a function
  of the cell key alone, and monotone in it: a cell whose key does not change while its count does
  (the children it gains have record keys that add up to 0 mod 256) would move by exactly its change of
  count, and cells whose keys are close would get close noise. Ranked per pcv, the noise of one key at
  two counts is unrelated, and so is the noise of neighbouring keys.
The permutation is public (the seed is here): the secret is the record keys, without which no cell's
key, hence its noise, can be known. SHAKE-256 fixes the table on any platform and Python version, and
anyone can recompute it; `seed=None` gives ONS's plain cumulative ranges.

`python -m ictg_metrics.disclosure.noisy --out FILE.csv` writes the table in ONS's CSV format
(`pcv,ckey,pvalue`, no comments), which ONS's `cell-key-perturbation` package reads as it is.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import math
import struct
from collections.abc import Iterable, Sequence
from typing import TextIO

__all__ = [
    "KEYS",
    "MAX_NOISE",
    "MAX_PCV",
    "NAME",
    "SEED",
    "SIGMA",
    "THRESHOLD",
    "main",
    "noise_counts",
    "ptable_rows",
    "pvalue_grid",
    "write_csv",
]

NAME = "ictg_noise_d5"
MAX_NOISE = 5
SIGMA = 2.0
SEED = "ictg-noisy-ptable-v1"  # changing it (or any parameter) changes every published value
THRESHOLD = 10  # the cell key method's threshold: a published value below it is withheld
KEYS = 256  # cell keys 0..255
MAX_PCV = 750  # the package's pcv range; larger counts are folded onto 501..750


def noise_counts(*, max_noise: int = MAX_NOISE, sigma: float = SIGMA, keys: int = KEYS) -> dict[int, int]:
    """`{v: keys giving v}` for v in -max_noise..max_noise: a Gaussian of `sigma` quantised to 1/`keys`.

    Symmetric (`counts[v] == counts[-v]`), so the mean is exactly 0; every value has at least one key.
    """
    if max_noise < 1 or sigma <= 0 or keys % 2:
        raise ValueError("max_noise must be >= 1, sigma > 0 and keys even")
    weights = {v: math.exp(-(v * v) / (2 * sigma * sigma)) for v in range(-max_noise, max_noise + 1)}
    total = sum(weights.values())
    # floor(x + 0.5): rounding stated plainly, not Python's round-half-to-even
    sides = {v: max(1, math.floor(keys * weights[v] / total + 0.5)) for v in range(1, max_noise + 1)}
    zero = keys - 2 * sum(sides.values())
    if zero < max(sides.values()):
        raise ValueError(f"sigma {sigma} is too wide for -{max_noise}..{max_noise} on {keys} keys")
    return {**{-v: n for v, n in reversed(sides.items())}, 0: zero, **sides}


def _key_order(seed: str | None, row_pcv: int, keys: int) -> list[int]:
    """The keys of a pcv in rank order: a fixed pseudo-random permutation (or 0..keys-1 without a seed)."""
    if seed is None:
        return list(range(keys))
    words = struct.unpack(f">{keys}I", hashlib.shake_256(f"{seed}/{row_pcv}".encode()).digest(4 * keys))
    return sorted(range(keys), key=words.__getitem__)  # a stable sort: equal words keep the keys' order


def pvalue_grid(
    *,
    max_noise: int = MAX_NOISE,
    sigma: float = SIGMA,
    seed: str | None = SEED,
    threshold: int = THRESHOLD,
    keys: int = KEYS,
    max_pcv: int = MAX_PCV,
) -> list[list[int]]:
    """The ptable as `grid[pcv - 1][ckey]` = `pvalue`, pcv 1..`max_pcv`, ckey 0..`keys` - 1: `-pcv` under
    `threshold`, else the noise of `noise_counts`, each key's value set by its rank at that pcv (see the
    module)."""
    counts = noise_counts(max_noise=max_noise, sigma=sigma, keys=keys)
    by_rank = [v for v, n in counts.items() for _ in range(n)]  # cumulative order: ONS's key ranges
    grid: list[list[int]] = []
    for row_pcv in range(1, max_pcv + 1):
        if row_pcv < threshold:
            grid.append([-row_pcv] * keys)
            continue
        pvalues = [0] * keys
        for rank, key in enumerate(_key_order(seed, row_pcv, keys)):
            pvalues[key] = by_rank[rank]
        grid.append(pvalues)
    return grid


def ptable_rows(
    *,
    max_noise: int = MAX_NOISE,
    sigma: float = SIGMA,
    seed: str | None = SEED,
    threshold: int = THRESHOLD,
    keys: int = KEYS,
    max_pcv: int = MAX_PCV,
) -> list[tuple[int, int, int]]:
    """The ptable's (`pcv`, `ckey`, `pvalue`) rows, ordered by pcv then ckey (`pvalue_grid` flattened)."""
    grid = pvalue_grid(max_noise=max_noise, sigma=sigma, seed=seed, threshold=threshold, keys=keys, max_pcv=max_pcv)
    return [(row_pcv, key, v) for row_pcv, row in enumerate(grid, start=1) for key, v in enumerate(row)]


def write_csv(file: TextIO, rows: Iterable[Sequence[int]]) -> None:
    """The rows as ONS's package reads a ptable: header `pcv,ckey,pvalue`, one row per line."""
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(["pcv", "ckey", "pvalue"])
    writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ictg_metrics.disclosure.noisy",
        description=f"Write the {NAME} ptable (pcv, ckey, pvalue) as CSV, as ONS's cell-key-perturbation reads it.",
    )
    parser.add_argument("--out", required=True, help="the CSV file to write")
    args = parser.parse_args(argv)
    with open(args.out, "w", newline="", encoding="utf-8") as file:
        write_csv(file, ptable_rows())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
