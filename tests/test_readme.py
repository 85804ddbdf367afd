"""The README's Python code runs as written (blocks run in order, in one namespace)."""

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_python_blocks_run():
    assert len(BLOCKS) >= 2
    namespace = {}
    exec(compile(BLOCKS[0], str(README), "exec"), namespace)
    # the tour: a backdoor is planted at theta = 0.1 and none at theta = 0
    res = namespace["search"].cv_results_
    thetas = [p["poisontransformer__theta"] for p in res["params"]]
    asr = dict(zip(thetas, res["mean_test_asr"]))
    assert asr[0.0] < 0.1 and asr[0.1] > 0.9
    for block in BLOCKS[1:]:
        exec(compile(block, str(README), "exec"), namespace)
    # the defence sweep: kappa is one more grid axis, scored for every fold
    res = namespace["search"].cv_results_
    assert len(res["params"]) == 3 and "mean_test_asr" in res
