"""NLU quality of a trained model on the held-out NLU test file, with
Rasa's own evaluation (``rasa test nlu``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RASA = Path(sys.executable).parent / "rasa"
TEST_FILE = "tests/nlu/test_nlu.yml"
AVERAGES = ("micro avg", "macro avg", "weighted avg", "accuracy")


def run_rasa_test(model: str, out: Path, test_file: str = TEST_FILE) -> float:
    """``rasa test nlu`` of ``model`` on ``test_file`` into ``out``; wall seconds.

    Raises:
        subprocess.CalledProcessError: rasa failed (its output is in
            ``out/rasa-test.log``).
    """
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with (out / "rasa-test.log").open("wb") as log:
        subprocess.run([str(RASA), "test", "nlu", "--nlu", test_file, "--model", model, "--out", str(out)],
                       cwd=ROOT, env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"},
                       stdout=log, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - started


def confusions(errors: list[dict], top: int = 5) -> list[dict]:
    """The ``top`` intent pairs most often confused with each other, in either
    direction, from Rasa's ``intent_errors.json`` rows (``intent`` and
    ``intent_prediction.name``): ``{"pair": [a, b], "count", "a_as_b",
    "b_as_a"}`` with ``a < b``, most confused first, ties by name."""
    directed = Counter((e.get("intent") or "?", (e.get("intent_prediction") or {}).get("name") or "?")
                       for e in errors)
    pairs = {tuple(sorted(key)) for key in directed}
    rows = [{"pair": [a, b], "count": directed[(a, b)] + directed[(b, a)],
             "a_as_b": directed[(a, b)], "b_as_a": directed[(b, a)]} for a, b in pairs]
    rows.sort(key=lambda r: (-r["count"], r["pair"]))
    return rows[:top]


def summarize(out: Path) -> dict:
    """Figures from the reports ``rasa test nlu`` wrote to ``out``.

    Returns ``{"intent_macro_f1", "intent_accuracy", "entity_f1" (micro),
    "entity_macro_f1", "worst_intents" ([name, f1] x 5), "confusions",
    "errors"}``; entity keys are None when there is no entity report.
    """
    intents = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    entity_path = out / "DIETClassifier_report.json"
    entities = json.loads(entity_path.read_text(encoding="utf-8")) if entity_path.exists() else {}
    errors_path = out / "intent_errors.json"
    errors = json.loads(errors_path.read_text(encoding="utf-8")) if errors_path.exists() else []
    per_intent = sorted(((k, v["f1-score"]) for k, v in intents.items()
                         if isinstance(v, dict) and k not in AVERAGES), key=lambda kv: (kv[1], kv[0]))
    return {
        "intent_macro_f1": intents["macro avg"]["f1-score"],
        "intent_accuracy": intents.get("accuracy"),
        "entity_f1": (entities.get("micro avg") or {}).get("f1-score"),
        "entity_macro_f1": (entities.get("macro avg") or {}).get("f1-score"),
        "worst_intents": [[k, round(f, 3)] for k, f in per_intent[:5]],
        "confusions": confusions(errors),
        "errors": len(errors),
    }


def measure(model: str, out: Path) -> dict:
    """Run ``rasa test nlu`` for ``model`` and summarise it (see :func:`summarize`),
    plus ``seconds`` (wall time of the command) and ``out``."""
    seconds = run_rasa_test(model, out)
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    return {**summarize(out), "seconds": round(seconds, 1), "out": str(shown)}
