"""Every Python code block of the README and of the documentation runs on its own.

The blocks are found, not listed: the README's ```` ```python ```` fences and, in every
``docs/**/*.rst`` page, ``.. code-block:: python`` (or ``code``/``sourcecode``, ``py``,
``pycon``) directives, ``::`` literal blocks (Sphinx highlights them as Python) and ``>>>``
doctest blocks. A literal block that is not Python says so (``.. code-block:: text``,
``console``, ``bash``). Each block runs in a fresh namespace, in a temporary working
directory: a block that uses a name from an earlier block fails here with a NameError, as it
would for a reader who copies it. Doctest-style blocks run through :mod:`doctest` and their
printed results are compared; ``# doctest: +SKIP`` is refused (it would hide a block that
does not run).

A block that cannot run here, or that is deliberately long, is listed below with the reason,
by a piece of its text; a listed piece must match exactly one block, so the lists cannot go
stale.
"""

import doctest
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
# sphinx and sphinx-gallery outputs: generated pages, not sources
GENERATED = {"_build", "auto_examples", "generated", "gen_modules"}
PYTHON = {"python", "python3", "py", "pycon", "default", ""}

# blocks that are not run, by a piece of their text: why
NOT_RUN = {
    'load_mnist("~/data/mnist")': "reads MNIST and CIFAR-10 files the reader has downloaded",
    'Client("tcp://scheduler:8786")': "connects to the reader's Dask scheduler",
}
# blocks that run only with the slow tests (`pytest -m slow`), by a piece of their text: why
SLOW = {
    "SmallCNN, kappa=1.0, augment=": "trains a CNN for 10 epochs on 1,797 images (30 s)",
    "with thread_budget(n_jobs=2, threads=4)": "starts two worker processes (15 s)",
    '"gradregkrrclassifier__kappa": [0.0, 0.01, 0.1, 1.0, 10.0]': (
        "the user guide's full kappa x theta sweep: 45 kernel-ridge fits (35 s)"
    ),
    'aggregation="finite", n_jobs=2': (
        "Finite Aggregation on digits: 200 logistic-regression fits in two processes"
    ),
}


def _check_readme_tour(namespace):
    # the tour: a backdoor is planted at theta = 0.1 and none at theta = 0
    res = namespace["search"].cv_results_
    thetas = [p["poisontransformer__poison_rate"] for p in res["params"]]
    asr = dict(zip(thetas, -res["mean_test_neg_asr"], strict=False))
    assert asr[0.0] < 0.1 and asr[0.1] > 0.9


def _check_readme_defence(namespace):
    # the defence sweep: kappa is one more grid axis, scored for every fold
    res = namespace["search"].cv_results_
    assert len(res["params"]) == 3 and "mean_test_neg_asr" in res


# what a block must have computed, beyond running, by a piece of its text
CHECKS = {
    '"svc__C": [1.0, 10.0]': _check_readme_tour,
    "print(select_kappa(search.cv_results_, min_clean_accuracy=0.95))": _check_readme_defence,
}


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    line: int  # of the block's first line of code
    code: str

    @property
    def id(self):
        return f"{self.page}:{self.line}"

    @property
    def is_doctest(self):
        return self.code.lstrip().startswith(">>>")


def _markdown_blocks(path):
    text = path.read_text()
    for match in re.finditer(r"^```(\w*)[ \t]*\n(.*?)^```", text, re.S | re.M):
        if match.group(1).lower() in PYTHON - {""}:
            line = text.count("\n", 0, match.start(2)) + 1
            yield Block(str(path.relative_to(ROOT)), line, match.group(2))


def _indented_body(lines, start, indent):
    """The block indented deeper than ``indent`` from ``start`` on (directive options skipped):
    its dedented code, the index of its first line and the index after it."""
    i = start
    while i < len(lines) and re.match(r"^\s+:[\w-]+:", lines[i]):  # directive options
        i += 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    first = i
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
        i += 1
    return textwrap.dedent("\n".join(lines[first:i])).strip("\n") + "\n", first, i


def _indent(line):
    return len(line) - len(line.lstrip())


def _rst_blocks(path, root=ROOT):
    lines = path.read_text().splitlines()
    page = str(path.relative_to(root))
    highlight = "python"
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = re.match(r"^(\s*)\.\.\s+(code-block|code|sourcecode)::\s*(\S*)", line)
        set_highlight = re.match(r"^\s*\.\.\s+highlight::\s*(\S+)", line)
        literal = line.rstrip().endswith("::") and not line.lstrip().startswith("..")
        if set_highlight:
            highlight = set_highlight.group(1).lower()
        if directive or literal:
            language = directive.group(3).lower() if directive else highlight
            code, first, i = _indented_body(lines, i + 1, _indent(line))
            if language in PYTHON and code.strip():
                yield Block(page, first + 1, code)
            continue
        if line.lstrip().startswith(">>>") and (i == 0 or not lines[i - 1].strip()):
            first = i  # a doctest block: up to the next blank line
            while i < len(lines) and lines[i].strip():
                i += 1
            yield Block(page, first + 1, textwrap.dedent("\n".join(lines[first:i])) + "\n")
            continue
        i += 1


def _pages():
    yield ROOT / "README.md"
    for path in sorted((ROOT / "docs").rglob("*.rst")):
        if not GENERATED & set(path.relative_to(ROOT / "docs").parts):
            yield path


def _blocks():
    for path in _pages():
        yield from (_markdown_blocks if path.suffix == ".md" else _rst_blocks)(path)


BLOCKS = list(_blocks())


def _listed(table, block):
    return [key for key in table if key in block.code]


def _params():
    for block in BLOCKS:
        marks = [pytest.mark.slow] if _listed(SLOW, block) else []
        yield pytest.param(block, id=block.id, marks=marks)


def _run_doctest(block, namespace):
    assert "+SKIP" not in block.code, f"{block.id}: a doctest block must run (no +SKIP)"
    parser = doctest.DocTestParser()
    test = parser.get_doctest(block.code, namespace, block.id, block.page, block.line - 1)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    report = []
    runner = doctest.DocTestRunner(optionflags=flags)
    result = runner.run(test, out=report.append)
    assert result.failed == 0, "".join(report)


@pytest.mark.parametrize("block", list(_params()))
def test_code_block_runs_on_its_own(block, tmp_path, monkeypatch):
    reason = _listed(NOT_RUN, block)
    if reason:
        compile(block.code, block.id, "exec")  # still valid Python
        pytest.skip(f"{block.id}: {NOT_RUN[reason[0]]}")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)  # a block may write files (a report, a figure)
    namespace = {"__name__": "__main__"}
    try:
        if block.is_doctest:
            _run_doctest(block, namespace)
        else:
            exec(compile(block.code, block.id, "exec"), namespace)
    finally:
        plt.close("all")
    for key in _listed(CHECKS, block):
        CHECKS[key](namespace)


def test_blocks_are_found_and_every_listed_piece_matches_one_block():
    pages = {block.page for block in BLOCKS}
    assert "README.md" in pages and any(page.startswith("docs/user_guide/") for page in pages)
    for table in (NOT_RUN, SLOW, CHECKS):
        for key in table:
            matches = [block.id for block in BLOCKS if key in block.code]
            assert len(matches) == 1, (key, matches)


def test_the_extractor_finds_every_kind_of_python_block(tmp_path):
    page = tmp_path / "docs" / "page.rst"
    page.parent.mkdir()
    page.write_text(
        "Title\n=====\n\n"
        ".. code-block:: python\n   :caption: options are skipped\n\n   a = 1\n\n"
        ".. code-block:: text\n\n   not python\n\n"
        "A literal block::\n\n    b = 2\n\n"
        ".. highlight:: console\n\nA shell session::\n\n    $ ls\n\n"
        ">>> c = 3\n>>> c\n3\n\n"
        ".. note::\n\n   .. code:: pycon\n\n      >>> d = 4\n"
    )
    found = [(b.line, b.code, b.is_doctest) for b in _rst_blocks(page, tmp_path)]
    assert found == [
        (7, "a = 1\n", False),
        (15, "b = 2\n", False),
        (23, ">>> c = 3\n>>> c\n3\n", True),
        (31, ">>> d = 4\n", True),
    ]
