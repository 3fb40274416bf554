"""Resident memory and CPU time of a process tree, from ``/proc`` (Linux)."""
from __future__ import annotations

from pathlib import Path


def status_kib(pid: int, field: str) -> int:
    """A ``kB`` field (``VmRSS``, ``VmHWM``) of ``/proc/PID/status``; 0 when gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it (from ``/proc/*/stat`` parents)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += children.get(current, [])
    return out


def rss_mib(pid: int) -> dict:
    """``{"rss_mib", "peak_mib", "processes"}`` of ``pid`` and its children:
    current RSS (``VmRSS``) and peak RSS (``VmHWM``, each process's own high
    water mark, summed) in MiB."""
    pids = descendants(pid)
    return {
        "rss_mib": round(sum(status_kib(p, "VmRSS") for p in pids) / 1024, 1),
        "peak_mib": round(sum(status_kib(p, "VmHWM") for p in pids) / 1024, 1),
        "processes": len(pids),
    }


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) used so far by ``pid`` and its
    live children, in seconds, from ``/proc/PID/stat``; 0 when gone."""
    import os

    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / tick
