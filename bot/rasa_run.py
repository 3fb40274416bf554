"""``python -m bot.rasa_run [rasa run options]``: ``rasa run``, closed by default.

Every Rasa server of the project is started through this module
(``scripts/run.sh``, ``bot/servers.py``, ``bot/scaleout.py``).  It adds to
the ``rasa run`` command line, from the environment:

* ``RASA_API_TOKEN`` set (at least 16 characters): ``--enable-api
  --auth-token=TOKEN``.  Rasa's HTTP API (``/conversations/...``,
  ``/model``, ``/status``, ...) then answers only requests that carry
  ``?token=TOKEN`` and 401 to the rest.  Unset or empty: no ``--enable-api``;
  those routes do not exist (404) and the server serves only the channels
  (``/webhooks/rest/``, ``/webhooks/line/``, ``/socket.io``) and ``GET /``.
  The token is handed to Rasa inside this process, so it never appears on a
  command line (which ``ps`` shows every local user).
* ``--cors`` with the origins of ``WIDGET_ORIGINS`` (commas or spaces; unset:
  ``http://localhost:8080``, the demo page), the same list the socket.io
  channel accepts (``bot.channels.socketio.parse_origins``).  A page from any
  other origin gets no CORS grant.
* ``--interface RASA_INTERFACE`` (default ``127.0.0.1``) unless the command
  line names one: the public side is the reverse proxy (docs/deployment.md).

``--enable-api``, ``--auth-token``/``-t`` and ``--cors`` on the command line
are refused (exit status 2): they would open what the environment keeps
closed.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from bot.channels.socketio import parse_origins

MIN_TOKEN_CHARS = 16
DEFAULT_INTERFACE = "127.0.0.1"
REFUSED = ("--enable-api", "--auth-token", "-t", "--cors")


class UsageError(ValueError):
    """A command line or an environment that would open the server."""


def rasa_run_args(argv: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """The ``rasa`` arguments (``["run", ...]``) for ``argv`` (``rasa run``
    options) and the settings in ``environ`` (see the module docstring).

    Raises:
        UsageError: ``argv`` has a refused option, ``RASA_API_TOKEN`` is
            shorter than 16 characters, or ``WIDGET_ORIGINS`` is not a list
            of origins.
    """
    args = list(argv)
    refused = [a for a in args if a.split("=", 1)[0] in REFUSED]
    if refused:
        raise UsageError(f"{' '.join(refused)}: not allowed here; set RASA_API_TOKEN to open the HTTP API "
                         "and WIDGET_ORIGINS for the widget's origins")
    try:
        origins = parse_origins(environ.get("WIDGET_ORIGINS"))
    except ValueError as error:
        raise UsageError(str(error)) from error
    out = ["run", *args, "--cors", *origins]
    if not any(a.split("=", 1)[0] in ("-i", "--interface") for a in args):
        out += ["--interface", environ.get("RASA_INTERFACE") or DEFAULT_INTERFACE]
    token = environ.get("RASA_API_TOKEN", "").strip()
    if token:
        if len(token) < MIN_TOKEN_CHARS:
            raise UsageError(f"RASA_API_TOKEN must be at least {MIN_TOKEN_CHARS} characters "
                             "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
        # one argument "--auth-token=TOKEN": a token that starts with "-" (secrets.token_urlsafe
        # gives one in 64) would otherwise be read as an option, and Rasa would not start
        out += ["--enable-api", f"--auth-token={token}"]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``rasa run`` with :func:`rasa_run_args`; 2 on a usage error."""
    try:
        args = rasa_run_args(sys.argv[1:] if argv is None else argv, os.environ)
    except UsageError as error:
        print(f"bot.rasa_run: {error}", file=sys.stderr)
        return 2
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *args]  # Rasa parses sys.argv; /proc/PID/cmdline keeps the original
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
