"""benchmarks/bench_gpu.py, the prepared GPU check: its CPU run (--quick, a slow test) prints
every row of its table; it reads CIFAR-10 folders and refuses bad arguments before any section."""

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gpu.py"

# (section, setting) of every row the table must hold
EXPECTED_ROWS = [
    ("Pre-ResNet-110 epoch", "float32, kappa=0"),
    ("Pre-ResNet-110 epoch", "float32, kappa=1"),
    ("Pre-ResNet-110 epoch", "mixed precision (bf16), kappa=0"),
    ("Pre-ResNet-110 epoch", "mixed precision (bf16), kappa=1"),
    ("Hessian top-5 (SmallCNN)", "d=3072 N=8, Lanczos 10 steps"),
    ("GradientCanceling step", "SmallCNN, n=128, m=13 poisons"),
]


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# the whole script: a minute of CPU alone (bf16 autocast is slow on CPUs), minutes on a busy
# machine; out of the default suite
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bench_gpu_quick_on_cpu(tmp_path):
    out_json = tmp_path / "bench.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    root = str(SCRIPT.parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--json", str(out_json)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "FAILED" not in out
    assert "on CPU" in out and "[cpu]" in out and "wall time" in out
    table = out[out.rindex("section ") :]  # the final table
    lines = table.splitlines()
    for section, setting in EXPECTED_ROWS:
        assert any(line.startswith(section) and setting in line for line in lines), (
            section,
            setting,
            table,
        )
    data = json.loads(out_json.read_text())
    assert data["quick"] and data["device_arg"] == "cpu"
    rows = data["rows"]
    assert len(rows) == len(EXPECTED_ROWS)
    assert all(math.isfinite(r["seconds"]) and r["seconds"] >= 0 for r in rows)
    ratios = [r for r in rows if "ratio_value" in r]
    assert len(ratios) == 5  # every row but the float32 kappa = 0 baseline
    (lanczos,) = [r for r in rows if "lanczos_steps" in r]
    # the numbers behind the printed ratio and error: ten steps find the top eigenvalue
    assert lanczos["ratio_value"] == pytest.approx(lanczos["dense_seconds"] / lanczos["seconds"])
    assert 0 <= lanczos["rel_err_top1"] < 1e-3


def test_bench_gpu_reads_cifar_folder(tmp_path):
    # --data goes through load_cifar10: the binary batches, train rows in order
    bench = _load_bench()
    rng = np.random.RandomState(0)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    images = rng.randint(0, 256, size=(18, 3073)).astype(np.uint8)
    images[:, 0] %= 10
    for i, name in enumerate([f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]):
        (folder / name).write_bytes(images[3 * i : 3 * i + 3].tobytes())
    args = argparse.Namespace(data=str(tmp_path))
    X, y, source = bench._cifar_shaped(args, 12, None)
    assert X.shape == (12, 3, 32, 32) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(np.rint(X.reshape(12, -1) * 255), images[:12, 1:])
    np.testing.assert_array_equal(y, images[:12, 0])
    assert "CIFAR-10" in source
    with pytest.raises(ValueError, match="holds 15 training images; 16 are needed"):
        bench._cifar_shaped(args, 16, None)
    X, y, source = bench._cifar_shaped(argparse.Namespace(data=None), 4, None)
    assert X.shape == (4, 3, 32, 32) and 0 <= X.min() and X.max() <= 1 and "synthetic" in source


def test_bench_gpu_bad_device_or_data_fails_fast_and_clearly(tmp_path, monkeypatch, capsys):
    # one usage line and the reason (exit status 2), before any section runs: no traceback
    import torch

    bench = _load_bench()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cases = [
        (["--device", "cuda"], "--device='cuda' but no CUDA device is available"),
        (["--device", "gpu0"], "--device='gpu0' is not a torch device"),
        (["--device", "cpu", "--data", str(tmp_path / "nowhere")], "does not exist"),
    ]
    records = np.zeros((3, 3073), dtype=np.uint8)
    for sub in ("small", "broken"):
        (tmp_path / sub).mkdir()
        for name in [f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]:
            (tmp_path / sub / name).write_bytes(records.tobytes())
    (tmp_path / "broken" / "data_batch_2.bin").write_bytes(records.tobytes()[:-5])
    # 15 training images: the quick GradientCanceling section needs 128
    small, broken = str(tmp_path / "small"), str(tmp_path / "broken")
    cases.append((["--device", "cpu", "--quick", "--data", small], "15 training images; 128"))
    cases.append((["--device", "cpu", "--data", broken], "data_batch_2.bin is not a CIFAR"))
    for argv, match in cases:
        with pytest.raises(SystemExit) as exc:
            bench.main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and match in err and "Traceback" not in err, (argv, err)
