"""Common-check instances for sklpoison/certification/_partition.py."""


def _partition_aggregation():
    from sklearn.linear_model import LogisticRegression

    from sklpoison import PartitionAggregationClassifier

    # three partitions of the checks' small data sets (each model still learns its blobs):
    # DPA, and run-off on the Finite Aggregation layout (two buckets a model), which also
    # covers the scores of the base models
    base = LogisticRegression(max_iter=200)
    return [
        PartitionAggregationClassifier(base, n_partitions=3),
        PartitionAggregationClassifier(base, n_partitions=3, aggregation="runoff", spread=2),
    ]


INSTANCES = {"PartitionAggregationClassifier": _partition_aggregation}
EXPECTED_FAILED_CHECKS = {}
