"""Flexible queries under differential privacy (`disclosure=dp`, scope metrics:query).

Free questions of the metrics endpoints (any filters, any grouping) are the tier an outsider could combine:
a deterministic perturbation answers unions of groups with and without a small one, and their differences
solve for it; fresh noise alone can be averaged away. So every answer here is noisy (OpenDP's discrete
Laplace on counts, its exponential-mechanism quantiles: `mechanism`), built from cells fixed by the query
alone (`release`), and each principal spends a monthly privacy budget on distinct queries, a repeated one
getting its stored answer again at no cost (`service`, stored by `budget`). What a principal learns in a
month about any one child is bounded by the budget, however its questions overlap.
"""
