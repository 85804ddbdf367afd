"""Common-check instances for sklpoison/attacks/_label_flip.py."""


def _targeted():
    from sklpoison import TargetedLabelFlipper

    # the checks' labels are 0, 1 (and 2): flip rows of class 1 to class 0
    return [TargetedLabelFlipper(source_class=1, target_class=0, random_state=0)]


def _alfa():
    from sklpoison import ALFALabelFlipper

    return [ALFALabelFlipper(max_iter=2)]


def _lfa():
    from sklpoison import LFALabelFlipper

    return [LFALabelFlipper(n_candidates=2, random_state=0)]


INSTANCES = {
    "TargetedLabelFlipper": _targeted,
    "ALFALabelFlipper": _alfa,
    "LFALabelFlipper": _lfa,
}
_NAMED_LABELS = (
    "source_class=1 and target_class=0 name two classes of y; this check's labels are "
    "other classes (tests/attacks/test_backdoor.py flips named and string labels)"
)
EXPECTED_FAILED_CHECKS = {
    "TargetedLabelFlipper": {
        "check_estimators_dtypes": _NAMED_LABELS,
        "check_fit2d_1feature": _NAMED_LABELS,
        "check_sampler_string_labels": _NAMED_LABELS,
    }
}
