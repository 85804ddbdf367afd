"""Scoring: attack success rate of a backdoor, and scorers for GridSearchCV.

Every scorer here follows scikit-learn's rule that greater is better:
``neg_asr_scorer`` returns the *negated* attack success rate (as
``"neg_mean_squared_error"`` negates an error), so that ``GridSearchCV`` ranks the
least attacked setting first.
"""

from ._backdoor import attack_success_rate, find_poisoner, make_asr_scorer, neg_asr_scorer

__all__ = ["attack_success_rate", "find_poisoner", "make_asr_scorer", "neg_asr_scorer"]
