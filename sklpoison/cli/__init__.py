"""The ``sklpoison`` command line; each sub-command is a private module of this subpackage."""
