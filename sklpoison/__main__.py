"""Command line: ``python -m sklpoison <command>`` (also the ``sklpoison`` console script).

Each sub-command lives in its own ``sklpoison/cli/_<name>.py`` module exposing
``add_parser(subparsers)``, which registers the sub-command and sets ``func`` on
it (``func(args) -> int`` is called with the parsed arguments). A sub-command may also set
``check``: ``check(args)`` runs first and ends the command with argparse's ``error:`` line and
exit status 2 when the arguments do not go together.
"""

import argparse
import importlib
import sys

_COMMANDS = ["demo", "sweep"]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sklpoison",
        description="Data-poisoning attacks, defences, detectors and certificates.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"sklpoison.cli._{name}").add_parser(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    check = getattr(args, "check", None)
    if check is not None:  # every argument checked before any work (argparse error, exit 2)
        check(args)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
