"""The shared memory guard (sklpoison.utils._memory): every limit that can stop an allocation."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sklpoison import GradRegKRR
from sklpoison.utils import _memory

GiB = 2**30


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def no_other_limits(monkeypatch):
    """Only the rlimits count: plenty of system memory, no cgroup limit."""
    monkeypatch.setattr(_memory, "_meminfo_available", lambda: 512 * GiB)
    monkeypatch.setattr(_memory, "_cgroup_headroom", lambda: [])


def test_format_bytes():
    assert _memory.format_bytes(512) == "512.0 B"
    assert _memory.format_bytes(1536) == "1.5 KiB"
    assert _memory.format_bytes(7 * GiB) == "7.0 GiB"


def test_meminfo(tmp_path):
    _write(tmp_path / "meminfo", "MemTotal: 100 kB\nMemFree: 10 kB\nMemAvailable: 2048 kB\n")
    assert _memory._meminfo_available(str(tmp_path / "meminfo")) == 2048 * 1024


def test_rlimit_as_is_honoured(tmp_path, monkeypatch, no_other_limits):
    # the audit's case: RLIMIT_AS = 7 GiB with 2 GiB already mapped; MemAvailable is large
    import resource

    status = tmp_path / "status"
    _write(status, f"Name: python\nVmSize: {2 * GiB // 1024} kB\nVmData: {GiB // 1024} kB\n")

    def getrlimit(which):
        if which == resource.RLIMIT_AS:
            return (7 * GiB, resource.RLIM_INFINITY)
        return (resource.RLIM_INFINITY, resource.RLIM_INFINITY)

    monkeypatch.setattr(resource, "getrlimit", getrlimit)
    headroom = _memory._rlimit_headroom(str(status))
    assert [h for h, _ in headroom] == [5 * GiB]
    assert "RLIMIT_AS" in headroom[0][1]

    monkeypatch.setattr(_memory, "_PROC_STATUS", str(status))
    assert _memory.available_memory() == 5 * GiB
    # n = 15000 with kappa > 0 holds three 1.8 GB matrices: 5.4 GB > 5 GiB, refused up front
    X = np.zeros((15000, 1))
    with pytest.raises(ValueError, match=r"n_samples=15000.*RLIMIT_AS \(ulimit -v\)"):
        GradRegKRR(kappa=1.0).fit(X, np.zeros(15000))


def test_rlimit_data_is_honoured(tmp_path, monkeypatch):
    import resource

    status = tmp_path / "status"
    _write(status, f"VmSize: {8 * GiB // 1024} kB\nVmData: {GiB // 1024} kB\n")

    def getrlimit(which):
        if which == resource.RLIMIT_DATA:
            return (3 * GiB, resource.RLIM_INFINITY)
        return (resource.RLIM_INFINITY, resource.RLIM_INFINITY)

    monkeypatch.setattr(resource, "getrlimit", getrlimit)
    assert [h for h, _ in _memory._rlimit_headroom(str(status))] == [2 * GiB]


def test_cgroup_v2_limit_of_group_and_ancestors(tmp_path):
    proc = tmp_path / "cgroup"
    _write(proc, "0::/user.slice/job\n")
    root = tmp_path / "fs"
    _write(root / "memory.max", "max\n")  # the root: no limit
    _write(root / "user.slice" / "memory.max", f"{4 * GiB}\n")
    _write(root / "user.slice" / "memory.current", f"{3 * GiB}\n")
    _write(root / "user.slice" / "memory.stat", f"anon 1\ninactive_file {GiB}\n")
    _write(root / "user.slice" / "job" / "memory.max", f"{8 * GiB}\n")
    _write(root / "user.slice" / "job" / "memory.current", f"{GiB}\n")
    headroom = _memory._cgroup_headroom(str(root), str(proc))
    # job: 8 - 1 = 7 GiB; the parent: 4 - (3 - 1 reclaimable) = 2 GiB binds
    assert sorted(h for h, _ in headroom) == [2 * GiB, 7 * GiB]
    assert min(headroom)[1].endswith("memory.max less its usage")


def test_cgroup_v1_limit(tmp_path):
    proc = tmp_path / "cgroup"
    _write(proc, "5:cpu:/\n4:memory:/docker/abc\n0::/\n")
    root = tmp_path / "fs"
    group = root / "memory" / "docker" / "abc"
    _write(group / "memory.limit_in_bytes", f"{6 * GiB}\n")
    _write(group / "memory.usage_in_bytes", f"{2 * GiB}\n")
    _write(group / "memory.stat", f"cache 5\ntotal_inactive_file {GiB}\n")
    _write(root / "memory" / "memory.limit_in_bytes", "9223372036854771712\n")  # unlimited
    headroom = _memory._cgroup_headroom(str(root), str(proc))
    assert [h for h, _ in headroom] == [5 * GiB]
    assert "memory.limit_in_bytes" in headroom[0][1]


def test_check_memory_names_the_binding_limit(monkeypatch):
    monkeypatch.setattr(_memory, "_meminfo_available", lambda: 10 * GiB)
    monkeypatch.setattr(_memory, "_rlimit_headroom", lambda: [(3 * GiB, "limit A")])
    monkeypatch.setattr(_memory, "_cgroup_headroom", lambda: [(2 * GiB, "limit B")])
    assert _memory.available_memory() == 2 * GiB
    assert _memory.check_memory(2 * GiB, "job") == 2 * GiB  # exactly enough passes
    with pytest.raises(
        ValueError, match=r"^job: it needs about 2147483649 bytes .*\(limit B\)\. Do X\.$"
    ):
        _memory.check_memory(2 * GiB + 1, "job", advice="Do X.")
    # nothing known: nothing refused
    monkeypatch.setattr(_memory, "_meminfo_available", lambda: None)
    monkeypatch.setattr(_memory, "_rlimit_headroom", lambda: [])
    monkeypatch.setattr(_memory, "_cgroup_headroom", lambda: [])
    assert _memory.check_memory(2**62, "job") is None


def test_real_rlimit_as_refuses_before_allocating():
    # a real process limit (not a monkeypatch): RLIMIT_AS = what is mapped + 256 MiB; a fit that
    # needs 3 x 128 MB matrices is refused with a ValueError, not a MemoryError deep in LAPACK
    code = textwrap.dedent(
        """
        import resource
        import numpy as np
        from sklpoison import GradRegKRR
        from sklpoison.utils import _memory
        used = _memory._status_bytes("VmSize")
        resource.setrlimit(resource.RLIMIT_AS, (used + 256 * 2**20, resource.RLIM_INFINITY))
        available = _memory.available_memory()
        assert available <= 256 * 2**20, available
        try:
            GradRegKRR(kappa=1.0).fit(np.zeros((4000, 2)), np.zeros(4000))
        except ValueError as exc:
            print("REFUSED", exc)
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if res.returncode != 0 and "VmSize" in res.stderr:  # pragma: no cover - no /proc
        pytest.skip("no /proc/self/status")
    assert res.returncode == 0, res.stderr
    assert "REFUSED GradRegKRR cannot fit n_samples=4000" in res.stdout
    assert "RLIMIT_AS" in res.stdout
