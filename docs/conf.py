"""Sphinx configuration for sklpoison."""

import os
import sys
import warnings

sys.path.insert(0, os.path.abspath(".."))

import sklpoison  # noqa: E402

project = "sklpoison"
copyright = "2026, sklpoison developers"
version = release = sklpoison.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    # scikit-learn's metadata-routing setters and inherited scorers document themselves
    # with references into scikit-learn's own glossary, which is not part of this site
    "exclude-members": (
        "set_fit_request, set_score_request, set_predict_request, set_transform_request, "
        "set_fit_resample_request, "
        "set_partial_fit_request, set_split_request, get_metadata_routing, score"
    ),
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_title = "sklpoison"

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "download_all_examples": False,
    "show_memory": False,
    "matplotlib_animations": False,
    "within_subsection_order": "FileNameSortKey",
}

# matplotlib in the gallery: never open windows
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")
