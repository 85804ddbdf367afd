"""Running out of memory in a kernel fit: numpy's MemoryError, re-raised with what to do."""

import subprocess
import sys
import textwrap

import pytest

from sklpoison.utils import _memory

GiB = 2**30


def test_format_bytes():
    assert _memory.format_bytes(512) == "512.0 B"
    assert _memory.format_bytes(1536) == "1.5 KiB"
    assert _memory.format_bytes(7 * GiB) == "7.0 GiB"


def test_explain_memory_error_names_the_need_and_keeps_the_cause():
    cause = MemoryError("Unable to allocate 8.0 GiB for an array with shape (32768, 32768)")
    with pytest.raises(MemoryError) as info:
        with _memory.explain_memory_error(2 * GiB, "job", detail="two matrices", advice="Do X."):
            raise cause
    assert str(info.value) == (
        "job: it needs about 2147483648 bytes (2.0 GiB) (two matrices), more than this process "
        f"could allocate ({cause}). Do X."
    )
    assert info.value.__cause__ is cause
    with _memory.explain_memory_error(1, "job"):  # no error: nothing happens
        pass
    with pytest.raises(ValueError, match="other"):  # other errors pass through untouched
        with _memory.explain_memory_error(1, "job"):
            raise ValueError("other")


def test_a_real_allocation_failure_names_the_estimator_and_the_fix():
    # a real process limit (not a monkeypatch): RLIMIT_AS = 256 MiB above what is mapped; a
    # GradRegKRR fit that needs 3 x 128 MB matrices fails with numpy's MemoryError, re-raised
    # with the fit's needs and the advice
    code = textwrap.dedent(
        """
        import resource
        import numpy as np
        from sklpoison import GradRegKRR
        X, y = np.random.RandomState(0).randn(4000, 2), np.zeros(4000)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/status") as fh:
            used = next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (used + 256 * 2**20, hard))
        try:
            GradRegKRR(kappa=1.0).fit(X, y)
        except MemoryError as exc:
            print("MEMORYERROR", exc)
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if res.returncode != 0 and "/proc/self/status" in res.stderr:  # pragma: no cover - no /proc
        pytest.skip("no /proc/self/status")
    assert res.returncode == 0, res.stderr
    assert "MEMORYERROR GradRegKRR cannot fit n_samples=4000" in res.stdout
    assert "Nystroem" in res.stdout
