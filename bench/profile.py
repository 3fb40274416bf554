"""Where a server's CPU time goes under load: py-spy samples, summarised.

:func:`start` attaches ``py-spy record`` (from ``.venv-bench``) to a running
process for some seconds and writes collapsed stacks (``--format raw``: one
line per distinct stack, ``frame;frame;... count``, outermost frame first,
each frame ``function (file:line)``); :func:`summarize` turns such a file into
shares of the samples by area (TensorFlow, Rasa, Sudachi, HTTP/asyncio, our
``bot/`` and ``knowledge/`` code ...) and by function.  Only samples where the
process was on CPU are counted (py-spy's default, no ``--idle``).
"""
from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY_SPY = ROOT / ".venv-bench" / "bin" / "py-spy"
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")

# (area, path prefix) pairs.  py-spy names files relative to their sys.path
# entry (``rasa/core/processor.py``, ``bot/channels/rest.py``), or absolute.
# The deepest frame that matches one names the area of a sample; first match wins.
AREAS = [
    ("our code: knowledge/ (answer lookup)", "knowledge/"),
    ("our code: bot/ (channels, actions, tracker store, privacy)", "bot/"),
    ("Sudachi", "sudachipy/"),
    ("TensorFlow / Keras", "tensorflow/"),
    ("TensorFlow / Keras", "keras/"),
    ("jsonschema (Rasa validates every action-server reply)", "jsonschema/"),
    ("SQLAlchemy / sqlite3 (tracker store)", "sqlalchemy/"),
    ("SQLAlchemy / sqlite3 (tracker store)", "sqlite3/"),
    ("Rasa NLU pipeline", "rasa/nlu/"),
    ("Rasa tracker store", "rasa/core/tracker_store.py"),
    ("Rasa dialogue (processor, policies, actions)", "rasa/core/"),
    ("Rasa dialogue (processor, policies, actions)", "rasa/shared/core/"),
    ("Rasa graph runner (dask) and other Rasa", "dask/"),
    ("Rasa graph runner (dask) and other Rasa", "rasa/"),
    ("rasa_sdk (action server)", "rasa_sdk/"),
    ("rapidfuzz", "rapidfuzz/"),
    ("HTTP servers/clients, asyncio event loop (incl. native uvloop)", "sanic/"),
    ("HTTP servers/clients, asyncio event loop (incl. native uvloop)", "sanic_cors/"),
    ("HTTP servers/clients, asyncio event loop (incl. native uvloop)", "aiohttp/"),
    ("HTTP servers/clients, asyncio event loop (incl. native uvloop)", "asyncio/"),
    ("HTTP servers/clients, asyncio event loop (incl. native uvloop)", "uvloop/"),
    ("HTTP servers/clients, asyncio event loop (incl. native uvloop)", "httptools/"),
    ("JSON", "json/"),
    ("logging / structlog", "structlog/"),
    ("logging / structlog", "logging/"),
]
OURS = ("knowledge/", "bot/")


def under(file: str, prefix: str) -> bool:
    """True when ``file`` (as py-spy names it) lies under package path ``prefix``:
    relative (``bot/x.py``), below the project root, or below any directory."""
    if prefix in OURS:
        return file.startswith(prefix) or file.startswith(f"{ROOT}/{prefix}")
    return file.startswith(prefix) or f"/{prefix}" in file


def start(pid: int, seconds: int, out: Path) -> subprocess.Popen:
    """Start ``py-spy record`` on ``pid`` for ``seconds`` (non-blocking
    sampling, 100 Hz) writing collapsed stacks to ``out``; returns the
    process (wait for it)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log").open("wb")
    return subprocess.Popen([str(PY_SPY), "record", "--pid", str(pid), "--duration", str(seconds),
                             "--rate", "100", "--nonblocking", "--format", "raw", "--output", str(out)],
                            stdout=log, stderr=subprocess.STDOUT)


def parse_frame(frame: str) -> tuple[str, str]:
    """``(function, file)`` of one collapsed-stack frame ``func (file:line)``."""
    match = _FRAME.match(frame.strip())
    return (match["func"], match["file"]) if match else (frame.strip(), "")


def parse(text: str) -> list[tuple[list[tuple[str, str]], int]]:
    """Collapsed stacks: ``[(frames outermost first, samples), ...]``."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([parse_frame(f) for f in stack.split(";")], int(count)))
    return stacks


def area_of(frames: list[tuple[str, str]]) -> str:
    """The area (see ``AREAS``) of the deepest frame that belongs to one,
    else ``"other (stdlib, ...)"``."""
    for _func, file in reversed(frames):
        for area, prefix in AREAS:
            if under(file, prefix):
                return area
    return "other (stdlib, ...)"


def _short(func: str, file: str) -> str:
    """``function (path)`` with the project root or site-packages cut off."""
    for prefix in (f"{ROOT}/", "site-packages/"):
        if prefix in file:
            file = file.split(prefix, 1)[1]
            break
    return f"{func} ({file})"


def summarize(text: str, top: int = 10) -> dict:
    """Shares (0..1) of the samples in collapsed-stack ``text``.

    Returns ``{"samples", "areas": [[area, share]], "self": [[function,
    share]] (deepest frame), "ours": [[function, share]] (inclusive, our
    ``bot/`` and ``knowledge/`` functions only)}``, largest first.
    """
    stacks = parse(text)
    total = sum(n for _, n in stacks)
    if not total:
        return {"samples": 0, "areas": [], "self": [], "ours": []}
    areas, leaf, ours = Counter(), Counter(), Counter()
    for frames, n in stacks:
        areas[area_of(frames)] += n
        if frames:
            leaf[_short(*frames[-1])] += n
        for name in {_short(f, p) for f, p in frames if any(under(p, prefix) for prefix in OURS)}:
            ours[name] += n
    share = lambda c: [[k, round(v / total, 3)] for k, v in c.most_common(top)]  # noqa: E731
    return {"samples": total, "areas": share(areas), "self": share(leaf), "ours": share(ours)}
