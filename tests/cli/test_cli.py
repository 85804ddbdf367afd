"""Tests of the command line (python -m sklpoison / sklpoison)."""

import subprocess
import sys

import pytest

from sklpoison.__main__ import main


def test_largest_suggested_theta_runs(capsys):
    # the bound the --poison-rate error suggests is itself accepted, and the demo completes
    assert main(["demo", "--poison-rate", "0.898", "--target-class", "9"]) == 0
    assert "0.898" in capsys.readouterr().out


def test_demo_prints_table(capsys):
    assert main(["demo", "--poison-rate", "0", "0.1"]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines() if line[:1] == " "]
    rows = {float(p[0]): (int(p[1]), float(p[2]), float(p[3])) for p in lines if len(p) == 4}
    assert rows[0.0][0] == 0 and rows[0.1][0] > 0
    assert rows[0.1][1] >= 0.9 and rows[0.1][2] >= 0.9  # backdoor planted, accuracy kept
    assert rows[0.0][2] <= 0.1


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_demo_table_shows_small_rates(capsys):
    # poison_rate=0.0001 (no poison) must not print as 0.000, the row of the clean baseline
    assert main(["demo", "--poison-rate", "0.0001"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["0.0001", "0"] in [r[:2] for r in rows]


def test_module_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "sklpoison", "demo", "--poison-rate", "0.05"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "attack success" in out.stdout


def test_demo_explains_and_shows_the_trigger(capsys):
    assert main(["demo", "--poison-rate", "0.05", "--target-class", "3"]) == 0
    out = capsys.readouterr().out
    assert "triggered: label 3" in out and out.count("+ ") >= 5  # the L drawn on a digit
    assert "attack success: the share of test digits not labelled 3" in out
    assert "sklpoison sweep" in out  # the next step


# ---------------------------------------------------------------- argument checks
# every bad value ends the command with argparse's one-line error and exit status 2, before
# anything is fitted (run is replaced by a function that fails the test if reached)

SWEEP_ERRORS = [
    (["--poison-rate", "2"], "argument --poison-rate: must lie in [0, 1], got 2"),
    (["--poison-rate", "nan"], "argument --poison-rate: expected a finite number"),
    (["--kappa", "-1"], "argument --kappa: must be >= 0, got -1"),
    (["--kappa", "inf"], "argument --kappa: expected a finite number"),
    (["--kappa", "x"], "argument --kappa: expected a number, got 'x'"),
    (["--cv", "1"], "argument --cv: must be an integer >= 2, got 1"),
    (["--cv", "2.5"], "argument --cv: expected an integer, got '2.5'"),
    (
        ["--cv", "190"],
        "--cv 190: the smallest digit class has 174 of the 1797 digits, too few for 190 "
        "stratified folds; use --cv 174 or fewer",
    ),
    (
        ["--cv", "30", "--n-samples", "300"],
        "--cv 30: the smallest digit class has 29 of the 300 digits, too few for 30 stratified "
        "folds; use --cv 29 or fewer or a larger --n-samples",
    ),
    (
        ["--n-samples", "10"],
        "--n-samples 10: 3-fold stratified CV over 10 classes needs at least 30",
    ),
    (
        ["--n-samples", "40", "--cv", "5"],
        "--n-samples 40: 5-fold stratified CV over 10 classes needs at least 50",
    ),
    (["--n-samples", "100000"], "--n-samples 100000: the embedded digits have 1797 rows"),
    (["--n-jobs", "0"], "argument --n-jobs: must be a positive number of workers or negative"),
    (["--threads", "0"], "argument --threads: must be an integer >= 1, got 0"),
    (
        ["--threads", "1", "--n-jobs", "2"],
        "--threads 1: fewer than the 2 parallel fits of --n-jobs 2, each of which needs a thread",
    ),
    (["--target-class", "12"], "argument --target-class: invalid choice: 12"),
    (["--min-clean-accuracy", "1.5"], "argument --min-clean-accuracy: must lie in [0, 1]"),
    (["--epochs", "0"], "argument --epochs: must be an integer >= 1, got 0"),
    (["--epochs", "3"], "--epochs: only --model cnn/mlp train in epochs"),
    (
        ["--poison-rate", "0.01", "0.02", "0.01"],
        "--poison-rate: 0.01 is given twice; list each value once",
    ),
    (["--kappa", "0", "1", "0.0"], "--kappa: 0 is given twice; list each value once"),
    (
        ["--poison-rate", "0.01", "0.9", "--cv", "2", "--n-samples", "200"],
        "--poison-rate 0.9: poisons 90 of the 100 training digits, but only 90 are not labelled 0 "
        "and at least one must stay (else one class is left); use --poison-rate 0.89 or lower",
    ),
    (["--random-state", "-1"], "argument --random-state: must be an integer in [0, 2**32)"),
    (["--device", "cuda"], "--device cuda: only --model cnn/mlp run on torch devices"),
    (["--augment", "crop"], "--augment: only --model cnn/mlp train with augmentation"),
    (["--model", "cnn", "--device", "gpu7"], "--device gpu7: not a torch device"),
    (["--model", "svm"], "argument --model: invalid choice: 'svm'"),
    (["-q", "-v"], "argument -v/--verbose: not allowed with argument -q/--quiet"),
]


@pytest.fixture
def nothing_runs(monkeypatch):
    from sklpoison.cli import _demo, _sweep

    def fail(args):  # pragma: no cover - reached only when a check is missing
        raise AssertionError("the command ran although its arguments are invalid")

    monkeypatch.setattr(_sweep, "run", fail)
    monkeypatch.setattr(_demo, "run", fail)


@pytest.mark.parametrize("argv, message", SWEEP_ERRORS)
def test_sweep_rejects_bad_arguments_before_fitting(argv, message, capsys, tmp_path, nothing_runs):
    with pytest.raises(SystemExit) as exc:
        main(["sweep", *argv, "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"sklpoison sweep: error: {message}" in err
    assert "Traceback" not in err


def test_sweep_warns_when_threads_exceed_the_cores(capsys, tmp_path, nothing_runs):
    from joblib import cpu_count

    many = cpu_count() + 1
    with pytest.raises(AssertionError, match="ran although"):  # a warning, not an error
        main(["sweep", "--threads", str(many), "--out", str(tmp_path)])
    assert capsys.readouterr().err == (
        f"sklpoison sweep: warning: --threads {many} exceeds the {cpu_count()} CPU cores "
        "available: the threads will compete for them\n"
    )


def test_sweep_device_cuda_without_gpu(capsys, tmp_path, nothing_runs):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():  # pragma: no cover - GPU machines
        pytest.skip("a GPU is present")
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--model", "cnn", "--device", "cuda", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "--device cuda: no CUDA GPU is visible to PyTorch" in capsys.readouterr().err


def test_sweep_checks_out_is_writable_before_fitting(capsys, tmp_path, nothing_runs):
    a_file = tmp_path / "report.txt"
    a_file.write_text("not a directory")
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--out", str(a_file)])
    assert exc.value.code == 2
    assert f"--out {a_file}: exists and is not a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--out", str(a_file / "sub")])
    assert exc.value.code == 2
    assert f"--out {a_file / 'sub'}: cannot write there" in capsys.readouterr().err
    # a new directory is created by the check and left empty (the probe file is removed)
    with pytest.raises(AssertionError, match="ran although"):
        main(["sweep", "--out", str(tmp_path / "new" / "dir")])
    assert list((tmp_path / "new" / "dir").iterdir()) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--poison-rate", "-0.1"], "argument --poison-rate: must lie in [0, 1]"),
        (["--test-size", "1"], "argument --test-size: must lie strictly between 0 and 1"),
        (["--trigger-size", "0"], "argument --trigger-size: must be an integer >= 1"),
        (["--trigger-size", "9"], "--trigger-size 9: the digits are 8 x 8 pixels"),
        (["--target-class", "10"], "argument --target-class: invalid choice: 10"),
        (
            ["--poison-rate", "0.1", "0.1"],
            "--poison-rate: 0.1 is given twice; list each value once",
        ),
        (
            ["--poison-rate", "0.9", "--target-class", "9"],
            "--poison-rate 0.9: poisons 1131 of the 1257 training digits, but only 1131 are not "
            "labelled 9 and at least one must stay (else one class is left); use "
            "--poison-rate 0.898",
        ),
        (
            ["--test-size", "0.001"],
            "--test-size 0.001: the stratified split of the 1797 digits needs at least 10 "
            "training and 10 test digits; got 1795 and 2",
        ),
    ],
)
def test_demo_rejects_bad_arguments(argv, message, capsys, nothing_runs):
    with pytest.raises(SystemExit) as exc:
        main(["demo", *argv])
    assert exc.value.code == 2
    assert f"sklpoison demo: error: {message}" in capsys.readouterr().err


def test_sweep_shows_progress_by_default_and_scores_on_request(tmp_path, capfd):
    argv = ["sweep", "--poison-rate", "0.05", "--kappa", "0", "--cv", "2", "--n-samples", "200"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    out = capfd.readouterr().out
    assert out.count("[CV] END") == 2 and "total time" in out  # a line per fit
    assert "2 fits" in out and "1 thread(s) per fit" in out and "neg_asr" not in out
    assert main([*argv, "--out", str(tmp_path / "b"), "-v"]) == 0
    out = capfd.readouterr().out
    assert out.count("] END") == 2 and "neg_asr: (test=" in out
    assert main([*argv, "--out", str(tmp_path / "c"), "-q"]) == 0
    quiet = capfd.readouterr().out
    assert "fits" not in quiet and "attack success" in quiet
