"""Scoring: attack success rate of a backdoor, and scorers for GridSearchCV.

Every scorer here follows scikit-learn's rule that greater is better:
``neg_asr_scorer`` returns the *negated* attack success rate (as
``"neg_mean_squared_error"`` negates an error), so that ``GridSearchCV`` ranks the
least attacked setting first.
"""

import warnings

from ._backdoor import attack_success_rate, find_poisoner, make_asr_scorer, neg_asr_scorer

__all__ = ["attack_success_rate", "find_poisoner", "make_asr_scorer", "neg_asr_scorer"]


def __getattr__(name):
    if name == "asr_scorer":
        warnings.warn(
            "sklpoison.metrics.asr_scorer is deprecated and will be removed: it returns the "
            "attack success rate, so GridSearchCV, whose scores are greater-is-better, ranks "
            "the most attacked setting first. Use neg_asr_scorer (scoring={'neg_asr': "
            "neg_asr_scorer}); select_kappa, tradeoff_table and SafetyEfficacyDisplay read "
            "its 'neg_asr' columns and still report the attack success rate.",
            FutureWarning,
            stacklevel=2,
        )
        return make_asr_scorer(greater_is_better=True)
    raise AttributeError(f"module 'sklpoison.metrics' has no attribute {name!r}")
