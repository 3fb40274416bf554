"""bot/rasa_patches.py: Rasa's action-reply check with the schema checked once,
rejecting invalid replies exactly as Rasa's own code does."""
from __future__ import annotations

import logging

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from bot import rasa_patches

VALID = [
    {},
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "topic", "value": "住民票"}],
     "responses": [{"text": "区民課です", "buttons": []}, {"custom": {"status": "answered"}}]},
]
INVALID = [
    {"events": "not a list"},
    {"responses": [1]},
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"event": "slot", "name": 3}]},
    [],
    "text",
]


@pytest.fixture
def patched(monkeypatch):
    """The patch applied for one test; Rasa's own method is put back afterwards."""
    monkeypatch.delenv(rasa_patches.ENV_SWITCH, raising=False)
    original = rasa_patches.original_validate()
    monkeypatch.setattr(RemoteAction, "_validate_action_result", original)
    assert rasa_patches.apply()
    yield original
    rasa_patches.restore()  # then monkeypatch puts back whatever was there before the test


@pytest.fixture
def action():
    return RemoteAction("action_answer", None)


def rejection(validate, action, reply):
    with pytest.raises(Exception) as info:
        validate(action, reply)
    err = info.value
    return type(err), err.message, list(err.path), err.validator, list(err.schema_path)


@pytest.mark.parametrize("reply", VALID)
def test_valid_replies_pass(patched, action, reply):
    assert RemoteAction._validate_action_result is not patched
    assert action._validate_action_result(reply) is True
    assert patched(action, reply) is True  # Rasa's own method agrees


@pytest.mark.parametrize("reply", INVALID, ids=["events-str", "response-int", "unknown-event", "bad-slot",
                                                "list", "str"])
def test_invalid_reply_is_rejected_with_rasas_own_error(patched, action, reply):
    ours = rejection(RemoteAction._validate_action_result, action, reply)
    rasas = rejection(patched, action, reply)
    assert ours == rasas
    assert ours[0] is jsonschema.ValidationError
    assert "Failed to validate Action server response from API" in ours[1]


def test_schema_is_not_checked_again_per_call(patched, action, monkeypatch):
    cls = jsonschema.validators.validator_for(RemoteAction.action_response_format_spec())

    def fail(*_args, **_kwargs):
        raise AssertionError("check_schema called on a reply")

    monkeypatch.setattr(cls, "check_schema", classmethod(fail))
    assert action._validate_action_result(VALID[2]) is True
    with pytest.raises(jsonschema.ValidationError):
        action._validate_action_result(INVALID[0])
    with pytest.raises(AssertionError):  # Rasa's own method checks it every time
        patched(action, VALID[2])


def test_apply_is_idempotent(patched):
    current = RemoteAction._validate_action_result
    assert rasa_patches.apply() and RemoteAction._validate_action_result is current


def test_subclass_with_its_own_schema_uses_rasas_method(patched):
    class Strict(RemoteAction):
        @staticmethod
        def action_response_format_spec():
            return {"type": "object", "required": ["events"]}

    with pytest.raises(jsonschema.ValidationError):
        Strict("x", None)._validate_action_result({})


@pytest.mark.parametrize("version", ["3.7.0", "4.0.0", "3.5.17", "3.60.0rc1"])
def test_refuses_other_rasa_versions(monkeypatch, caplog, version):
    monkeypatch.delenv(rasa_patches.ENV_SWITCH, raising=False)
    original = rasa_patches.original_validate()
    monkeypatch.setattr(RemoteAction, "_validate_action_result", original)
    with caplog.at_level(logging.WARNING, logger="bot.rasa_patches"):
        assert rasa_patches.apply(rasa_version=version) is False
    assert RemoteAction._validate_action_result is original
    assert f"Rasa {version} is not 3.6.x" in caplog.text


@pytest.mark.parametrize("value,on", [("0", False), ("false", False), ("off", False), ("1", True), ("", True)])
def test_env_switch(monkeypatch, value, on):
    original = rasa_patches.original_validate()
    monkeypatch.setattr(RemoteAction, "_validate_action_result", original)
    monkeypatch.setenv(rasa_patches.ENV_SWITCH, value)
    try:
        assert rasa_patches.apply() is on
        assert rasa_patches.is_applied() is on
    finally:
        rasa_patches.restore()


def test_tracker_store_module_applies_it():
    """The Rasa server loads bot.tracker_store (endpoints.yml), which applies the patch."""
    import bot.tracker_store  # noqa: F401

    assert rasa_patches.is_applied()
