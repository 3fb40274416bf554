"""Locust load profile: citizens asking the REST channel questions.

Each simulated user is a stream of citizens: a conversation (its own
``sender``) of ``TURNS_PER_CONVERSATION`` questions, then a new one, so no
sender reaches the REST channel's per-sender rate limit.  The questions come
from ``BENCH_QUESTIONS`` (an eval file in ``../shared/eval`` format,
default ``../shared/eval/public.yml``) in random order, one after another with
no think time.  A reply counts as a failure unless it is HTTP 200 with a JSON
list holding exactly one message whose ``custom`` has a ``status``: the
channel's contract and is not the rate limiter's reply, so a polite "busy"
or a silent turn is not counted as an answer.

Run: ``.venv-bench/bin/locust -f bench/locustfile.py --headless -u 20 -r 20
-t 60s --host http://localhost:5005``.  ``BENCH_HOSTS`` (comma-separated base
URLs) spreads users over several Rasa servers, round-robin by user.
The channel's "cannot answer now" reply (status intent ``unavailable``: the
bot produced nothing, e.g. the action server failed) is a failure too.
"""
from __future__ import annotations

import itertools
import os
import random
import uuid

import yaml
from locust import HttpUser, task

WEBHOOK = "/webhooks/rest/webhook"
TURNS_PER_CONVERSATION = 8


def load_questions(path: str) -> list[str]:
    """Questions of an eval file: single cases and every dialogue turn (strings)."""
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    questions = [case["question"] for case in data.get("single") or []]
    questions += [turn["user"] for d in data.get("dialogues") or [] for turn in d["turns"]]
    if not questions:
        raise ValueError(f"{path}: no questions")
    return questions


QUESTIONS = load_questions(os.environ.get("BENCH_QUESTIONS", "../shared/eval/public.yml"))
HOSTS = itertools.cycle([h for h in os.environ.get("BENCH_HOSTS", "").split(",") if h])


def contract_error(payload) -> str | None:
    """Why a REST reply breaks the channel contract, or None when it keeps it."""
    if not isinstance(payload, list) or not payload:
        return "empty or non-list reply"
    customs = [m["custom"] for m in payload if isinstance(m.get("custom"), dict)]
    if len(customs) != 1 or not customs[0].get("status"):
        return f"expected one custom status, got {customs}"
    if customs[0].get("intent") == "rate_limited":
        return "rate limited"
    if customs[0].get("intent") == "unavailable":
        return "unavailable (the bot produced no answer)"
    return None


class Citizen(HttpUser):
    """One conversation asking questions back to back."""

    def on_start(self) -> None:
        self.turns = 0
        host = next(HOSTS, None)
        if host:
            self.client.base_url = host

    @task
    def ask(self) -> None:
        if self.turns % TURNS_PER_CONVERSATION == 0:
            self.sender = f"load-{uuid.uuid4().hex[:12]}"
        self.turns += 1
        question = random.choice(QUESTIONS)
        with self.client.post(WEBHOOK, json={"sender": self.sender, "message": question},
                              name="rest", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            try:
                problem = contract_error(response.json())
            except ValueError:
                problem = "reply is not JSON"
            if problem:
                response.failure(problem)
            else:
                response.success()
