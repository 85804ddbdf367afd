"""Common-check instances for sklpoison/attacks/_backdoor.py."""


def _poison_transformer():
    from sklpoison import PoisonTransformer

    # scikit-learn's checks fit on data with a single feature; the default
    # 3-feature tabular trigger (rightly) refuses to fit there.
    return [
        PoisonTransformer(trigger_size=1, random_state=0),
        PoisonTransformer(trigger_size=1, mode="add", poison_rate=0.3, random_state=0),
    ]


INSTANCES = {"PoisonTransformer": _poison_transformer}
EXPECTED_FAILED_CHECKS = {}
