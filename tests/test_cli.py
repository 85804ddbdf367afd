"""Tests of the command line (python -m sklpoison / sklpoison)."""

import subprocess
import sys

from sklpoison.__main__ import main


def test_demo_prints_table(capsys):
    assert main(["demo", "--theta", "0", "0.1"]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines() if line[:1] == " "]
    rows = {float(p[0]): (int(p[1]), float(p[2]), float(p[3])) for p in lines if len(p) == 4}
    assert rows[0.0][0] == 0 and rows[0.1][0] > 0
    assert rows[0.1][1] >= 0.9 and rows[0.1][2] >= 0.9  # backdoor planted, accuracy kept
    assert rows[0.0][2] <= 0.1


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_module_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "sklpoison", "demo", "--theta", "0.05"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "attack success" in out.stdout
