"""Build and training times, and the baseline model (``models/baseline.tar.gz``).

* :func:`time_kb_build` times ``python -m knowledge build`` into a temporary
  file (the real ``knowledge/kb.sqlite`` is left alone).
* :func:`train` runs ``rasa train`` for a config; with ``force`` every graph
  node is trained (Rasa's cache is not used for lookups), so the wall time is
  a full training; without it Rasa skips training when the model at
  ``out/name.tar.gz`` was trained from the same config, domain and data.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BASELINE_CONFIG = "bench/config_baseline.yml"
TODAY_CONFIG = "bench/config_today.yml"


def _env() -> dict:
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}


def train_command(config: str, out: str, name: str, force: bool) -> list[str]:
    """The ``rasa train`` command line (same domain and data as ``make train``)."""
    cmd = [str(BIN / "rasa"), "train", "--config", config, "--domain", "domain.yml", "--data", "bot/data",
           "--out", out, "--fixed-model-name", name]
    return cmd + ["--force"] if force else cmd


def train(config: str, out: str, name: str, log: Path, force: bool = False) -> dict:
    """Run ``rasa train``; ``{"seconds", "trained", "model", "command"}``.

    ``trained`` is False when Rasa found nothing changed and kept the model.

    Raises:
        subprocess.CalledProcessError: training failed (output in ``log``).
    """
    model = Path(out) / f"{name}.tar.gz"
    model = model if model.is_absolute() else ROOT / model
    before = model.stat().st_mtime if model.exists() else None
    cmd = train_command(config, out, name, force)
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("wb") as handle:
        subprocess.run(cmd, cwd=ROOT, env=_env(), stdout=handle, stderr=subprocess.STDOUT, check=True)
    seconds = time.perf_counter() - started
    trained = model.exists() and model.stat().st_mtime != before
    return {"seconds": round(seconds, 1), "trained": trained, "model": str(model),
            "command": " ".join(["rasa", *cmd[1:]])}


def forced_training_time(config: str, name: str, log: Path, keep_as: Path | None = None) -> dict:
    """Wall time of ``rasa train --force`` for ``config`` into a temporary
    directory (see :func:`train`); the model is moved to ``keep_as`` when
    given, else deleted."""
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        result = train(config, tmp, name, log, force=True)
        if keep_as is not None:
            keep_as.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(result["model"], keep_as)
        result["model"] = str(keep_as) if keep_as else None
        result["command"] = result["command"].replace(tmp, "$TMPDIR")
    return result


def time_kb_build(log: Path) -> dict:
    """Wall time of ``python -m knowledge build --db TMP/kb.sqlite`` (a fresh
    process: interpreter start, Sudachi dictionary load, build);
    ``{"seconds", "command"}``.

    Raises:
        subprocess.CalledProcessError: the build failed (output in ``log``).
    """
    with tempfile.TemporaryDirectory(prefix="bench-kb-") as tmp:
        cmd = [sys.executable, "-m", "knowledge", "build", "--db", str(Path(tmp) / "kb.sqlite")]
        log.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with log.open("wb") as handle:
            subprocess.run(cmd, cwd=ROOT, env=_env(), stdout=handle, stderr=subprocess.STDOUT, check=True)
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "command": "python -m knowledge build --db $TMPDIR/kb.sqlite"}
