"""pytest configuration shared by the tests and the doctests."""

import os

# never open plot windows, in tests or doctests
os.environ.setdefault("MPLBACKEND", "Agg")

# the common-check registries are loaded by tests/test_common.py by path; they are not
# test modules, so --doctest-modules must not import them
collect_ignore = ["tests/instances"]
