"""How much memory this process may still allocate, and a guard for large allocations.

Estimators that hold dense ``n x n`` matrices (kernel ridge, the SVM duals) call
:func:`check_memory` before allocating, so a fit that cannot succeed fails at once with a
``ValueError`` that says how much it needs, instead of dying minutes later with a raw
``MemoryError`` or the kernel's out-of-memory killer.

The available memory is the smallest of

* ``MemAvailable`` in ``/proc/meminfo`` (free memory plus reclaimable cache),
* the headroom under this process's resource limits, ``RLIMIT_AS`` (``ulimit -v``) and
  ``RLIMIT_DATA`` (``ulimit -d``), less what the process already maps,
* the headroom under the memory limit of the process's control group (cgroup v2
  ``memory.max``, cgroup v1 ``memory.limit_in_bytes``, of the group and every ancestor), less
  its current non-reclaimable usage,

each where the system reports it; ``None`` when none is known (then nothing is refused).
"""

import os

__all__ = ["available_memory", "check_memory", "format_bytes"]

# a cgroup "limit" at least this large means "no limit" (cgroup v1 reports 2**63 - page)
_UNLIMITED = 2**60
_CGROUP_ROOT = "/sys/fs/cgroup"
_PROC_CGROUP = "/proc/self/cgroup"
_PROC_STATUS = "/proc/self/status"
_PROC_MEMINFO = "/proc/meminfo"


def format_bytes(n_bytes):
    """``n_bytes`` in binary units, e.g. ``'1.5 GiB'``."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"


def _read_int(path):
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= _UNLIMITED else value


def _meminfo_available(path=_PROC_MEMINFO):
    """``MemAvailable`` in bytes, or the POSIX free-page count, or ``None``."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # pragma: no cover - other POSIX systems
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None


def _status_bytes(field, path=_PROC_STATUS):
    """A ``kB`` field of ``/proc/self/status`` (``VmSize``, ``VmData``) in bytes."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _rlimit_headroom(status_path=None):
    """Bytes left under ``RLIMIT_AS`` and ``RLIMIT_DATA``: ``[(bytes, source), ...]``."""
    status_path = status_path or _PROC_STATUS
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return []
    out = []
    for name, field, shell in (
        ("RLIMIT_AS", "VmSize", "ulimit -v"),
        ("RLIMIT_DATA", "VmData", "ulimit -d"),
    ):
        limit_id = getattr(resource, name, None)
        if limit_id is None:  # pragma: no cover
            continue
        try:
            soft, _ = resource.getrlimit(limit_id)
        except (OSError, ValueError):  # pragma: no cover
            continue
        if soft == resource.RLIM_INFINITY or soft < 0:
            continue
        used = _status_bytes(field, status_path) or 0
        out.append(
            (
                max(soft - used, 0),
                f"the process limit {name} ({shell}) less the {used} bytes in use",
            )
        )
    return out


def _cgroup_paths(proc_cgroup=_PROC_CGROUP):
    """The memory cgroup of this process: ``(version, path)`` pairs."""
    try:
        with open(proc_cgroup) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            out.append((2, path))
        elif "memory" in controllers.split(","):
            out.append((1, path))
    return out


def _inactive_file(stat_path):
    try:
        with open(stat_path) as fh:
            for line in fh:
                key, _, value = line.partition(" ")
                if key in ("inactive_file", "total_inactive_file"):
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_headroom(root=_CGROUP_ROOT, proc_cgroup=_PROC_CGROUP):
    """Bytes left under the cgroup memory limits: ``[(bytes, source), ...]``."""
    out = []
    for version, path in _cgroup_paths(proc_cgroup):
        base = root if version == 2 else os.path.join(root, "memory")
        limit_file, usage_file = (
            ("memory.max", "memory.current")
            if version == 2
            else ("memory.limit_in_bytes", "memory.usage_in_bytes")
        )
        # the group and each ancestor up to the mount point: every one of them caps the process
        rel = path.strip("/")
        while True:
            directory = os.path.join(base, rel) if rel else base
            limit = _read_int(os.path.join(directory, limit_file))
            if limit is not None:
                usage = _read_int(os.path.join(directory, usage_file)) or 0
                usage -= _inactive_file(os.path.join(directory, "memory.stat"))  # reclaimable
                source = (
                    f"the cgroup memory limit {os.path.join(directory, limit_file)} less its usage"
                )
                out.append((max(limit - max(usage, 0), 0), source))
            if not rel:
                break
            rel = os.path.dirname(rel)
    return out


def _available_memory_with_source():
    candidates = []
    meminfo = _meminfo_available()
    if meminfo is not None:
        candidates.append((meminfo, "MemAvailable in /proc/meminfo"))
    candidates += _rlimit_headroom()
    candidates += _cgroup_headroom()
    if not candidates:
        return None, None
    return min(candidates, key=lambda c: c[0])


def available_memory():
    """Bytes of memory this process may still allocate, or ``None`` when unknown.

    The smallest of the free system memory (``MemAvailable``), the headroom under the
    process's ``RLIMIT_AS`` / ``RLIMIT_DATA`` and the headroom under its cgroup memory limit.
    """
    return _available_memory_with_source()[0]


def check_memory(n_bytes, what, *, detail="", advice=""):
    """Raise a ``ValueError`` when ``what`` needs more memory than the process may allocate.

    Parameters
    ----------
    n_bytes : int
        Bytes the operation will hold at its peak.
    what : str
        Who needs it, e.g. ``"GradRegKRR cannot fit n_samples=15000"``.
    detail : str, default=""
        How ``n_bytes`` was counted, appended in parentheses.
    advice : str, default=""
        What to do instead (appended as its own sentence).

    Returns
    -------
    available : int or None
        The available memory that was compared with (``None`` when unknown: no check).
    """
    available, source = _available_memory_with_source()
    if available is not None and n_bytes > available:
        detail = f" ({detail})" if detail else ""
        message = (
            f"{what}: it needs about {int(n_bytes)} bytes ({format_bytes(n_bytes)}){detail}, "
            f"but only {int(available)} bytes ({format_bytes(available)}) of memory are "
            f"available to this process ({source})."
        )
        if advice:
            message += " " + advice
        raise ValueError(message)
    return available
