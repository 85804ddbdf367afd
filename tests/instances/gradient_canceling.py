"""Common-check instances for GradientCanceling, GradPC and Sever (fast settings)."""


def _gradient_canceling():
    from sklpoison import GradientCanceling

    return [GradientCanceling(epsilon_w=0.5, poison_rate=0.2, max_iter=5, random_state=0)]


def _grad_pc():
    from sklpoison import GradPC

    # a small radius keeps the corrupted model accurate enough for the checks that
    # require a working classifier; the corruption itself is tested in
    # tests/attacks/test_gradient_canceling.py
    return [GradPC(epsilon_w=0.01, max_iter=5)]


def _sever():
    from sklpoison import Sever

    return [Sever(removal_fraction=0.05, n_iter=2, random_state=0)]


INSTANCES = {
    "GradientCanceling": _gradient_canceling,
    "GradPC": _grad_pc,
    "Sever": _sever,
}
EXPECTED_FAILED_CHECKS = {}
