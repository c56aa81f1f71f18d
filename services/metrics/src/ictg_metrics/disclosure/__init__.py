"""Disclosure control for published metrics: the cell key method (ONS, Census 2021); docs/disclosure.md tells why and how.

`cellkey` holds the pure mechanism: per-child record keys from a keyed hash, the perturbation table
(ptable) and its lookup, and a SQL helper that computes a cell key beside `count(*)`. The arithmetic is
the same as ONS's `cell-key-perturbation` package (3.1.0), and tests/metrics/test_cellkey.py checks
this against the package cell by cell.

`noisy` generates the default ptable, `ictg_noise_d5`: zero-mean noise of at most 5 (variance 3.78125)
drawn by the cell key, nothing published under 10; its docstring states the design and its parameters.
`ptable_10_5.csv` is ONS's deterministic "10-5 rule" ptable (threshold 10, rounding to base 5), copied
from that package (its header comment gives its provenance), kept as `cellkey.PTABLE_10_5`.
`discloser` applies it to an answer (`Discloser`: perturbed or true counts, withheld fields, and the
refusals of a query whose cells would be too small or too sparse to publish); `refusals` lists the cells of a
table shown whole and refuses one that cannot be (values that cannot all be listed, too many cells).
"""
