"""Scoring: attack success rate of a backdoor, and scorers for GridSearchCV."""

from ._backdoor import asr_scorer, attack_success_rate, find_poisoner, make_asr_scorer

__all__ = ["asr_scorer", "attack_success_rate", "find_poisoner", "make_asr_scorer"]
