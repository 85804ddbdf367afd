"""pytest configuration shared by the tests and the doctests."""

import os

# never open plot windows, in tests or doctests
os.environ.setdefault("MPLBACKEND", "Agg")
