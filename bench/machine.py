"""Facts about the machine a benchmark ran on (absolute times depend on them)."""
from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path


def _cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_gib(meminfo: str) -> float | None:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)  # kB -> GiB
    return None


def facts() -> dict:
    """``{"date", "cpu_count", "cpu_model", "memory_gib", "load_avg", "python",
    "kernel"}``: the local date and time (ISO, to the minute), logical CPUs
    available to this process, ``/proc/cpuinfo`` model name, total memory in
    GiB, and the 1/5/15-minute load average when the run started."""
    read = lambda p: Path(p).read_text() if Path(p).exists() else ""  # noqa: E731
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 0
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="minutes"),
        "cpu_count": cpus,
        "cpu_model": _cpu_model(read("/proc/cpuinfo")),
        "memory_gib": _mem_total_gib(read("/proc/meminfo")),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
