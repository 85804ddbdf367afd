"""The README's Python code runs as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_python_blocks():
    assert BLOCKS


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs(code):
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    if "search" in namespace:  # the tour: backdoor planted at theta = 0.1, none at 0
        res = namespace["search"].cv_results_
        thetas = [p["poisontransformer__theta"] for p in res["params"]]
        asr = dict(zip(thetas, res["mean_test_asr"]))
        assert asr[0.0] < 0.1 and asr[0.1] > 0.9
