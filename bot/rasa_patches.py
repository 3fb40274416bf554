"""Rasa 3.6 made cheaper where its own code does work that decides nothing.

Applied on import by ``bot.tracker_store``, which every Rasa server of this
project loads (``endpoints.yml`` and ``endpoints.scaleout.yml``), so it runs in
each Sanic worker before its first action call.

**The action-server reply schema is checked once.**  Rasa's
``RemoteAction._validate_action_result`` calls ``jsonschema.validate()`` on
every action call.  That function first checks Rasa's own (constant) response
schema against the draft 2020-12 meta-schema, then builds a validator, then
validates the reply: about 17 ms of CPU per call, a third of the Rasa server's
CPU under load (``bench/findings.md``).  The replacement builds the validator
once (``validator_for(schema)``, ``check_schema`` once, at patch time) and only
validates the reply (about 0.3 ms).  An invalid reply is rejected exactly as
before: the same ``jsonschema.ValidationError`` (``best_match`` of the errors,
as ``jsonschema.validate`` picks it) with Rasa's text appended to its message.

Guards: the patch refuses to apply (logs a warning and leaves Rasa's code as
it is) on any Rasa but 3.6.x or when the method it replaces is missing.
``KUYAKUSHO_RASA_PATCHES=0`` leaves Rasa's code unchanged too; ``make bench``
uses it to measure today's configuration side by side.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

ENV_SWITCH = "KUYAKUSHO_RASA_PATCHES"  # "0", "false", "no" or "off": leave Rasa's code unchanged
SUPPORTED_RASA = "3.6."  # version prefix the patch was written against

# Rasa's own method, kept for RemoteAction subclasses that change the schema, for tests and for restore()
_original_validate: Callable[[Any, dict[str, Any]], bool] | None = None


def enabled(environ: dict[str, str] | None = None) -> bool:
    """False when ``$KUYAKUSHO_RASA_PATCHES`` says 0/false/no/off, else True."""
    value = (os.environ if environ is None else environ).get(ENV_SWITCH, "").strip().lower()
    return value not in ("0", "false", "no", "off")


def build_validator(schema: dict[str, Any]) -> Any:
    """A jsonschema validator for ``schema`` (a JSON schema as a dict), of the
    class ``jsonschema.validate`` would pick, with the schema checked once.

    Raises:
        jsonschema.SchemaError: ``schema`` is not a valid schema.
    """
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def is_applied() -> bool:
    """Whether ``RemoteAction._validate_action_result`` is the patched one."""
    from rasa.core.actions.action import RemoteAction

    return getattr(RemoteAction._validate_action_result, "_kuyakusho_patch", False)


def apply(rasa_version: str | None = None) -> bool:
    """Replace ``RemoteAction._validate_action_result`` (see the module doc).

    ``rasa_version`` defaults to the installed ``rasa.__version__`` (tests pass
    another one).  Returns True when the patch is in place (also when it
    already was), False when it was refused; never raises for a refusal.
    """
    import rasa
    from rasa.core.actions import action as rasa_action

    version = rasa.__version__ if rasa_version is None else rasa_version
    if not enabled():
        logger.info("Rasa patches disabled (%s=%s): Rasa's code left unchanged", ENV_SWITCH,
                    os.environ.get(ENV_SWITCH))
        return False
    if not version.startswith(SUPPORTED_RASA):
        logger.warning("Rasa %s is not %sx: the action-reply schema patch is not applied (Rasa's code left "
                       "unchanged); check bot/rasa_patches.py against this Rasa", version, SUPPORTED_RASA)
        return False
    remote = rasa_action.RemoteAction
    if is_applied():
        return True
    if not (callable(getattr(remote, "_validate_action_result", None))
            and callable(getattr(remote, "action_response_format_spec", None))):
        logger.warning("RemoteAction._validate_action_result or action_response_format_spec not found: "
                       "the action-reply schema patch is not applied")
        return False

    global _original_validate
    _original_validate = remote._validate_action_result
    spec = remote.action_response_format_spec
    validator = build_validator(spec())
    docs_url = rasa_action.DOCS_BASE_URL

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        """Rasa's check of an action-server reply, with the validator built once.

        Returns True for a valid reply.

        Raises:
            jsonschema.ValidationError: as Rasa's own method does (same error,
                same message).
        """
        if type(self).action_response_format_spec is not spec:  # a subclass with its own schema
            return _original_validate(self, result)
        from jsonschema.exceptions import best_match

        error = best_match(validator.iter_errors(result))
        if error is None:
            return True
        error.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{docs_url}/custom-actions"
        )
        raise error

    _validate_action_result._kuyakusho_patch = True  # type: ignore[attr-defined]
    remote._validate_action_result = _validate_action_result
    logger.info("Rasa %s: action-server replies are validated with a schema checked once", version)
    return True


def restore() -> None:
    """Put Rasa's own ``_validate_action_result`` back (no-op when not patched)."""
    from rasa.core.actions.action import RemoteAction

    if is_applied() and _original_validate is not None:
        RemoteAction._validate_action_result = _original_validate


def original_validate() -> Callable[[Any, dict[str, Any]], bool]:
    """Rasa's own ``_validate_action_result`` (whether or not the patch is applied)."""
    from rasa.core.actions.action import RemoteAction

    return _original_validate if is_applied() and _original_validate is not None \
        else RemoteAction._validate_action_result
