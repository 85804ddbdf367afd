"""Certified robustness to data poisoning (Sosnin et al., 2024).

:class:`IntervalCertifier` (classification) and :class:`IntervalCertifierRegressor`
(regression) train a model by SGD and propagate a sound over-approximation of
every parameter the poisoned training runs can reach (a box, or a zonotope for linear,
logistic and softmax regression); the propagation engine (nominal run, box and zonotope
propagators, sorted sums, LP bounds) lives in the private modules of this subpackage.

:class:`PartitionAggregationClassifier` is a certified *defence*: one model per partition of
the training set, aggregated by a vote (DPA, Finite Aggregation, Run-off Election).
"""

from ._certifier import IntervalCertifier, IntervalCertifierRegressor
from ._partition import PartitionAggregationClassifier

__all__ = ["IntervalCertifier", "IntervalCertifierRegressor", "PartitionAggregationClassifier"]
