"""The certifier's soundness audit, ``benchmarks/attack_search_certifier.py``, as slow tests.

For each of its configurations, optimised poisoning attacks within the threat model (label
flips and feature moves found by gradient ascent through the unrolled SGD), retrained by
``fit``'s own SGD, must stay inside :class:`~sklpoison.IntervalCertifier`'s parameter bounds
and leave every certified prediction unchanged. Minutes in all: ``pytest -m slow``.
"""

import ast
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "attack_search_certifier.py"


def _config_names():
    """The keys of the script's CONFIGS, read without importing it (it sets torch's default
    dtype to float64 when imported)."""
    for node in ast.parse(SCRIPT.read_text()).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["CONFIGS"]:
            return [key.value for key in node.value.keys]
    raise AssertionError(f"no CONFIGS in {SCRIPT}")


@pytest.fixture(scope="module")
def audit():
    torch = pytest.importorskip("torch")
    dtype = torch.get_default_dtype()
    spec = importlib.util.spec_from_file_location("attack_search_certifier", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    torch.set_default_dtype(dtype)


@pytest.mark.slow
@pytest.mark.parametrize("name", _config_names())
def test_optimised_attacks_stay_inside_the_certified_bounds(audit, name):
    data, params = audit.CONFIGS[name]
    inside_and_unchanged, n_attacks = audit.run(name, data, params)
    assert n_attacks > 0 and inside_and_unchanged
