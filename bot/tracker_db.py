"""Where the conversations are: the tracker store's database settings.

One reading of the ``tracker_store`` settings for the store that writes
(``bot.tracker_store.MaskingSQLTrackerStore``) and the staff insights that
read (``bot.insights``), so both always name the same database:

* ``dialect``: ``sqlite`` (default) or ``postgresql``;
* ``db``: for SQLite a file, relative to the project root, default
  ``results/tracker.db`` (``"${TRACKER_DB}"`` unset or empty means the
  default); for PostgreSQL the database name, default ``rasa``;
* ``url`` (Rasa's name for the host), ``port``, ``username``, ``password``;
* ``retention_days``: conversations idle longer are deleted (0 keeps them).

Values may hold ``${VAR}``: Rasa expands unquoted ones itself (refusing to
start when one is unset); what is left is expanded here, an unset variable
meaning the default.  This module imports no Rasa code, so the staff web
server stays small.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from bot.channels.line_api import resolve_setting

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "results/tracker.db"
DEFAULT_RETENTION_DAYS = 30
DEFAULT_ENDPOINTS = ROOT / "endpoints.yml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class TrackerDB:
    """Resolved settings of the tracker store's database (see the module docstring).

    ``db`` is an absolute file path for SQLite (or ``:memory:``);
    ``retention_days`` is a float >= 0 (0: conversations are kept).
    """

    dialect: str
    db: str
    retention_days: float
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = None

    @property
    def is_sqlite(self) -> bool:
        """Whether the store is an SQLite file."""
        return self.dialect == "sqlite"

    def url(self, read_only: bool = False) -> sa.engine.URL:
        """The SQLAlchemy URL; ``read_only`` opens an SQLite file with
        ``mode=ro`` (it must exist; nothing can be written through it)."""
        if self.is_sqlite:
            if read_only and self.db != ":memory:":
                return sa.engine.URL.create("sqlite", database=Path(self.db).as_uri(),
                                            query={"mode": "ro", "uri": "true"})
            return sa.engine.URL.create("sqlite", database=self.db)
        return sa.engine.URL.create(self.dialect, self.username, self.password, self.host, self.port,
                                    database=self.db)

    def describe(self) -> str:
        """Where the conversations are, for messages (never the password)."""
        if self.is_sqlite:
            return self.db
        return f"{self.dialect}://{self.username or ''}@{self.host or 'localhost'}:{self.port or ''}/{self.db}"


def resolve(dialect: Any = "sqlite", db: Any = None, retention_days: Any = DEFAULT_RETENTION_DAYS,
            host: Any = None, port: Any = None, username: Any = None, password: Any = None) -> TrackerDB:
    """The settings as written in ``endpoints.yml`` (or passed to the store), resolved.

    Raises:
        ValueError: ``retention_days`` is negative or not a number, or ``port`` is not a number.
    """
    dialect = resolve_setting(dialect, "sqlite")
    name = resolve_setting(db, DEFAULT_DB if dialect == "sqlite" else "rasa")
    if dialect == "sqlite" and name != ":memory:":
        path = Path(name)
        name = str(path if path.is_absolute() else ROOT / path)
    days = float(resolve_setting(retention_days, str(DEFAULT_RETENTION_DAYS)))
    if days < 0:
        raise ValueError(f"retention_days must be >= 0 (0 keeps conversations forever), not {retention_days!r}")
    port_text = resolve_setting(port)
    return TrackerDB(dialect=dialect, db=name, retention_days=days, host=resolve_setting(host) or None,
                     port=int(port_text) if port_text else None, username=resolve_setting(username) or None,
                     password=resolve_setting(password) or None)


def from_endpoints(path: Path | str = DEFAULT_ENDPOINTS, environ: Mapping[str, str] | None = None) -> TrackerDB:
    """The ``tracker_store`` section of an endpoints file (``endpoints.yml``,
    ``endpoints.scaleout.yml``), resolved as the store resolves it.

    Only that section is read, so variables other sections need (such as
    ``ACTION_ENDPOINT_URL``) may be unset.  ``${VAR}`` is expanded from
    ``environ`` (default ``os.environ``).  For SQLite an unset variable
    means the default; for a database server every variable the section
    names must be set.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not YAML, no ``tracker_store`` section, an unset variable
            for a database server (named in the message), or a bad value.
    """
    env = os.environ if environ is None else environ
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"endpoints file not found: {path}")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid YAML: {err}") from err
    section = content.get("tracker_store") if isinstance(content, dict) else None
    if not isinstance(section, dict):
        raise ValueError(f"{path} has no tracker_store section")
    unset = sorted({name for value in section.values() for name in _ENV_REF.findall(str(value))
                    if not env.get(name)})
    dialect = resolve_setting(section.get("dialect"), "sqlite", env)
    if unset and dialect != "sqlite":
        raise ValueError(f"{path}: set the environment variable(s) {', '.join(unset)} for the tracker store")

    def value(key: str, default: Any = None) -> str:
        return resolve_setting(section.get(key, default), "", env)

    return resolve(dialect, value("db"), value("retention_days", DEFAULT_RETENTION_DAYS), value("url"),
                   value("port"), value("username"), value("password"))
