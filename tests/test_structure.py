"""The layout of the package: canonical homes, light imports, no import cycle.

- every public name of ``sklpoison`` is the object of its canonical home
  (``sklpoison.X is sklpoison.<concern>.X``), and every public estimator of a concern
  subpackage is exported at the top level;
- ``import sklpoison``, every public name and every public module outside ``sklpoison.nn``
  load none of torch, skorch, cvxpy, matplotlib and dask;
- the import graph of the package, function-level imports included, has no cycle;
- no file of the test suite shadows a module of the standard library.

The size limits (modules, functions) are checked by ``tests/test_sizes.py``.
"""

import ast
import importlib
import inspect
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.base import BaseEstimator

import sklpoison

PACKAGE = Path(sklpoison.__file__).parent
CONCERNS = ["attacks", "defences", "detection", "certification"]
HEAVY = ["torch", "skorch", "cvxpy", "matplotlib", "dask"]


# ------------------------------------------------------------------ homes
def _lazy_names():
    return {n: m for n, m in sklpoison._LAZY_ATTRIBUTES.items() if m != "sklpoison"}


@pytest.mark.parametrize("name", sorted(sklpoison._LAZY_ATTRIBUTES))
def test_public_name_is_its_canonical_home(name):
    home = sklpoison._LAZY_ATTRIBUTES[name]
    assert home in {f"sklpoison.{c}" for c in CONCERNS}, (
        f"{name} is resolved from {home}, which is not one of the concern subpackages"
    )
    module = importlib.import_module(home)
    assert name in module.__all__
    assert getattr(sklpoison, name) is getattr(module, name)
    # defined inside its concern, not re-exported from elsewhere
    assert getattr(module, name).__module__.startswith(home + ".")


@pytest.mark.parametrize("concern", CONCERNS)
def test_every_public_estimator_of_a_concern_is_exported(concern):
    module = importlib.import_module(f"sklpoison.{concern}")
    for name in module.__all__:
        obj = getattr(module, name)
        assert obj.__module__.startswith(f"sklpoison.{concern}.")
        # estimators, not their bases (BaseLabelFlipper lives in its concern only, as
        # imblearn's BaseOverSampler)
        if inspect.isclass(obj) and issubclass(obj, BaseEstimator) and not name.startswith("Base"):
            assert name in sklpoison.__all__, f"sklpoison.{concern}.{name} is not in sklpoison"
            assert getattr(sklpoison, name) is obj


def test_nn_names_live_in_nn():
    nn = pytest.importorskip("sklpoison.nn")
    for name in nn.__all__:
        obj = getattr(nn, name)
        where = obj.__name__ if inspect.ismodule(obj) else obj.__module__
        assert where.startswith("sklpoison.nn"), name
        assert name not in sklpoison.__all__ or name == "nn"


def test_top_level_names_are_listed():
    assert set(sklpoison.__all__) == set(sklpoison._LAZY_ATTRIBUTES) | set(sklpoison._SUBMODULES)
    for name in sklpoison._SUBMODULES:
        assert getattr(sklpoison, name) is importlib.import_module(f"sklpoison.{name}")


# ----------------------------------------------------------- light imports
def _public_modules():
    names = ["sklpoison"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="sklpoison."):
        parts = info.name.split(".")
        if parts[1] == "nn" or any(p.startswith("_") for p in parts[1:]):
            continue
        names.append(info.name)
    return names


def test_public_modules_load_no_heavy_dependency():
    # one interpreter imports the modules one after the other, then resolves every public
    # name, and records what each step added; a module loading torch (say) on its own
    # loads it here too, and is named unless an earlier step already did
    modules = _public_modules()
    assert {"sklpoison.attacks", "sklpoison.numerics.kernels", "sklpoison.plotting"} <= set(modules)
    code = f"""
import importlib, json, sys
heavy = {HEAVY!r}
added = {{}}
def step(label, action):
    before = set(sys.modules)
    action()
    added[label] = [h for h in heavy if h in sys.modules and h not in before]
for name in {modules!r}:
    step(name, lambda: importlib.import_module(name))
import sklpoison
step("sklpoison.<public names>", lambda: [getattr(sklpoison, a) for a in sklpoison.__all__
                                          if a != "nn"])
print(json.dumps(added))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    added = json.loads(out.stdout.strip().splitlines()[-1])
    assert list(added) == [*modules, "sklpoison.<public names>"]
    culprits = {name: heavy for name, heavy in added.items() if heavy}
    assert not culprits, f"imports that load a heavy dependency: {culprits}"


# ------------------------------------------------------------- import graph
def _module_files(root):
    """``{dotted name: (path, is_package)}`` for every ``.py`` file under ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


def import_graph(root):
    """Edges ``(importer, imported)`` between the modules of the package at ``root``.

    Every ``import`` statement counts, at any depth (function-level imports too),
    relative or absolute. ``from package import name`` points at the submodule
    ``package.name`` when there is one, else at ``package``; importing a module also
    imports its parent packages, except the importer's own ancestors (already being
    imported) and the top-level package (whose ``__init__`` imports lazily).
    """
    top = root.name
    modules = _module_files(root)

    def absolute(importer, is_package, level, name):
        if level == 0:
            return name
        base = importer.split(".")
        if not is_package:
            base = base[:-1]
        base = base[: len(base) - (level - 1)]
        return ".".join(base + ([name] if name else []))

    edges = set()
    for importer, (path, is_package) in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = absolute(importer, is_package, node.level, node.module)
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                if target.split(".")[0] != top:
                    continue
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                parts = target.split(".")
                for depth in range(2, len(parts) + 1):
                    imported = ".".join(parts[:depth])
                    own_ancestor = importer.startswith(imported + ".")
                    if imported != importer and (depth == len(parts) or not own_ancestor):
                        edges.add((importer, imported))
    return sorted(modules), edges


def import_cycles(root):
    """The strongly connected components of more than one module."""
    names, edges = import_graph(root)
    index = {name: i for i, name in enumerate(names)}
    rows = [index[a] for a, _ in edges]
    cols = [index[b] for _, b in edges]
    graph = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(names), len(names)))
    _, labels = connected_components(graph, directed=True, connection="strong")
    groups = [[names[i] for i in np.flatnonzero(labels == k)] for k in np.unique(labels)]
    return [g for g in groups if len(g) > 1]


def test_no_import_cycle():
    names, edges = import_graph(PACKAGE)
    # the graph sees relative, absolute and function-level imports
    assert ("sklpoison.defences._krr", "sklpoison.numerics.kernels") in edges
    assert ("sklpoison.defences._sever", "sklpoison.base") in edges
    assert import_cycles(PACKAGE) == []


def _write_package(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_import_cycles_are_found(tmp_path):
    # the detector itself: a cycle through a function-level relative import, one through
    # an absolute import of a parent package, and an acyclic control
    pkg = tmp_path / "pkg"
    _write_package(
        pkg,
        {
            "__init__.py": "",
            "a.py": "from . import b\n",
            "b.py": "def f():\n    from .a import x\n",
            "sub/__init__.py": "from ._impl import Thing\n",
            "sub/_impl.py": "import pkg.other.tool\n",
            "other/__init__.py": "",
            "other/tool.py": "def g():\n    from ..sub import Thing\n",
            "free.py": "from .sub._impl import Thing\nimport numpy\n",
        },
    )
    cycles = sorted(sorted(c) for c in import_cycles(pkg))
    assert cycles == [
        ["pkg.a", "pkg.b"],
        ["pkg.other.tool", "pkg.sub", "pkg.sub._impl"],
    ]


# --------------------------------------------------------- runtime checks
def test_no_assert_statement_in_the_package():
    # ``python -O`` strips assert statements: runtime checks raise exceptions instead.
    # utils/estimator_checks.py is exempt: its check functions fail with AssertionError
    # by design, as scikit-learn's do, and run under pytest (which keeps asserts).
    exempt = {PACKAGE / "utils" / "estimator_checks.py"}
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in exempt
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert found == []


# ------------------------------------------------------------ parameter names
def _parameter_owners():
    """``{parameter name: {public callable}}`` over the public modules but ``nn``."""
    owners = {}
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None) or list(vars(module))
        for name in names:
            obj = getattr(module, name)
            if name.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if not getattr(obj, "__module__", "").startswith("sklpoison"):
                continue
            try:
                parameters = inspect.signature(obj).parameters
            except (TypeError, ValueError):  # pragma: no cover - builtins
                continue
            for parameter in parameters:
                owners.setdefault(parameter, set()).add(name)
    return owners


# each budget name has one meaning (see the glossary in docs/user_guide/index.rst); a new
# estimator taking one of these names must mean the same thing, and be added here
BUDGET_NAMES = {
    # l-infinity radius of a poisoned row's features
    "epsilon": {"IntervalCertifier", "IntervalCertifierRegressor"},
    # poisoned rows per row of the training set: round(poison_rate * n) rows (theta, eps_d, k/n)
    "poison_rate": {
        "PoisonTransformer",
        "RandomLabelFlipper",
        "TargetedLabelFlipper",
        "ALFALabelFlipper",
        "LFALabelFlipper",
        "FloralLabelFlipper",
        "GradientCanceling",
        "FloralSVC",
        "SafetyEfficacyDisplay",
        "select_kappa",
    },
    # relative radius of a parameter corruption
    "epsilon_w": {"GradientCanceling", "GradPC"},
    # fraction_to_count: the generic conversion of a rate into rows
    "fraction": {"fraction_to_count"},
    # share of rows a defence removes
    "removal_fraction": {"Sever"},
    # number of poisoned rows
    "n_poison": {
        "IntervalCertifier",
        "IntervalCertifierRegressor",
        "make_clustered_poisons",
        "spike_efficacy_law",
        "measure_spike_efficacy",
    },
    "n_label_flips": {"IntervalCertifier", "IntervalCertifierRegressor"},
    # the attacker's target model (not a label: poisons' labels are poison_label)
    "target": {"GradientCanceling"},
    # input-gradient penalty weight
    "kappa": {
        "GradRegKRR",
        "GradRegKRRClassifier",
        "SafetyEfficacyDisplay",
        "regularised_system",
    },
}


@pytest.mark.parametrize("name", sorted(BUDGET_NAMES))
def test_budget_parameter_names_have_one_meaning(name):
    assert _parameter_owners().get(name, set()) == BUDGET_NAMES[name]


# --------------------------------------------------------------------- docs
ROOT = PACKAGE.parent


def _resolve(path, *homes):
    """The object at ``home.path`` for the first home where it exists (submodules imported)."""
    for home in homes:
        obj, name = importlib.import_module(home), home
        try:
            for part in path.split("."):
                name = f"{name}.{part}"
                obj = getattr(obj, part) if hasattr(obj, part) else importlib.import_module(name)
        except ImportError:
            continue
        return obj
    return None


def test_readme_table_names_exist_in_their_homes():
    lines = (ROOT / "README.md").read_text().splitlines()
    rows = [line for line in lines if line.startswith("| **")]
    assert len(rows) >= 6
    for row in rows:
        head, body = row.split("|")[1:3]
        homes = re.findall(r"`(sklpoison[\w.]*)`", head) + ["sklpoison"]
        names = re.findall(r"`([A-Za-z_][\w.]*)`", body)
        assert names, row
        for name in names:
            assert _resolve(name, *homes) is not None, f"README names `{name}` ({head.strip()})"


API_MODULES = [
    "sklpoison.attacks",
    "sklpoison.defences",
    "sklpoison.detection",
    "sklpoison.certification",
    "sklpoison.nn",
    "sklpoison.nn.models",
    "sklpoison.numerics.kernels",
    "sklpoison.numerics.interval",
    "sklpoison.numerics.rounding",
    "sklpoison.metrics",
    "sklpoison.model_selection",
    "sklpoison.theory",
    "sklpoison.datasets",
    "sklpoison.plotting",
    "sklpoison.base",
    "sklpoison.utils",
    "sklpoison.utils.validation",
    "sklpoison.utils.estimator_checks",
]


def test_api_page_lists_every_public_callable():
    pytest.importorskip("sklpoison.nn")
    entries = re.findall(r"^   ([\w.]+)$", (ROOT / "docs" / "api.rst").read_text(), flags=re.M)
    documented = set()
    for entry in entries:
        obj = _resolve(entry, "sklpoison")
        assert obj is not None, f"docs/api.rst lists {entry}, which does not exist"
        documented.add(id(obj))
    missing = []
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None) or [
            name
            for name, obj in vars(module).items()
            if getattr(obj, "__module__", None) == module_name
        ]
        for name in names:
            obj = getattr(module, name)
            public = inspect.isclass(obj) or inspect.isfunction(obj)
            if public and not name.startswith("_") and id(obj) not in documented:
                missing.append(f"{module_name}.{name}")
    assert missing == [], "add them to docs/api.rst"


def test_docs_and_examples_cite_public_paths_only():
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.rst")]
    files += [*(ROOT / "docs" / "user_guide").glob("*.rst"), *(ROOT / "examples").glob("*.py")]
    private = re.compile(r"sklpoison(?:\.\w+)*\._\w+")
    found = [
        f"{path.relative_to(ROOT)}: {match}"
        for path in files
        for match in private.findall(path.read_text())
    ]
    assert found == []


# ---------------------------------------------------------------- test files
def test_no_test_file_shadows_the_standard_library():
    tests = Path(__file__).parent
    clashes = [
        str(path.relative_to(tests.parent))
        for path in tests.rglob("*.py")
        if path.stem in sys.stdlib_module_names
    ]
    assert clashes == []
