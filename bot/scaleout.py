"""The scale-out stack on loopback: Redis, PostgreSQL, several Rasa servers, action servers.

What runs (``endpoints.scaleout.yml``, docs/deployment.md):

* **Redis** (Debian's ``redis-server``) on ``127.0.0.1:redis_port``: Rasa's
  ``RedisLockStore``, so one conversation is processed by one Rasa server at
  a time, in order.  Nothing is saved to disk (``--save ""``): the locks only
  matter while the servers run.
* **PostgreSQL** on ``127.0.0.1:pg_port`` (no Unix socket), a cluster of its
  own in ``base/pg`` made with ``initdb`` on first start and kept across
  starts (under the temp dir instead when ``postgres`` cannot enter ``base``).
  It runs as the ``postgres`` user when started by root (PostgreSQL refuses
  to run as root).  The database ``rasa`` (user ``rasa``, a random
  password kept in ``base/tracker-db.password``, mode 0600) holds the
  conversations through ``bot.tracker_store.MaskingSQLTrackerStore``.
* **Action servers**, one per port in ``actions_ports``, each with its own
  read-only copy of the knowledge base (``base/actions-PORT/kb.sqlite``,
  mode 0444, via ``$KB_PATH``).
* **Rasa servers**, one per port in ``rasa_ports``, on 127.0.0.1, started
  through ``bot.rasa_run`` like ``make run`` (HTTP API only with
  ``RASA_API_TOKEN``, see ``api_token``); server *i* calls action server *i*
  mod *n*.  They get ``REDIS_URL`` (Redis db 0), so the REST rate limit and
  LINE's event dedup are shared; the lock store uses db 1.

Logs go to ``base/logs/NAME.log``.  :class:`Stack` starts and stops it all
(for tests and ``bench/soak.py``); ``python -m bot.scaleout`` runs it in the
foreground until Ctrl-C or SIGTERM (``make scaleout``).  Every process is
stopped by the PID this module recorded, never by name.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import warnings
from collections.abc import Sequence
from pathlib import Path

from bot.servers import ROOT, _get, actions_command, answers, rasa_command, start

DEFAULT_BASE = ROOT / "results" / "scaleout"
DEFAULT_RASA_PORTS = (6005, 6006)
DEFAULT_ACTIONS_PORTS = (6055,)
DEFAULT_REDIS_PORT = 6079
DEFAULT_PG_PORT = 6032
DB_NAME = "rasa"
DB_USER = "rasa"
HOST = "127.0.0.1"


def postgres_bin_dir() -> Path:
    """The directory holding ``initdb`` and ``postgres``: ``$PG_BIN``, else the
    newest ``/usr/lib/postgresql/*/bin`` (Debian), else the one on ``PATH``.

    Raises:
        FileNotFoundError: no PostgreSQL server binaries were found
            (``scripts/scaleout.sh`` installs Debian's ``postgresql``).
    """
    candidates = [os.environ.get("PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: [int(x) if x.isdigit() else x for x in Path(p).parent.name.split(".")],
                         reverse=True)
    on_path = shutil.which("postgres")
    candidates.append(str(Path(os.path.realpath(on_path)).parent) if on_path else "")
    for directory in filter(None, candidates):
        if (Path(directory) / "postgres").is_file() and (Path(directory) / "initdb").is_file():
            return Path(directory)
    raise FileNotFoundError("PostgreSQL server binaries (initdb, postgres) not found: "
                            "run scripts/scaleout.sh --install-only (apt-get install postgresql) or set PG_BIN")


def redis_server() -> str:
    """Path of ``redis-server``.

    Raises:
        FileNotFoundError: not installed (``apt-get install redis-server``;
            ``scripts/scaleout.sh --install-only`` does it).
    """
    debian = Path("/usr/bin/redis-server")
    path = shutil.which("redis-server") or (str(debian) if debian.is_file() else None)
    if not path:
        raise FileNotFoundError("redis-server not found: run scripts/scaleout.sh --install-only "
                                "(apt-get install redis-server)")
    return path


def _port_open(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


class Stack:
    """One scale-out stack (see the module docstring).

    Args:
        base: working directory for the PostgreSQL cluster, its password,
            the knowledge-base copies and the logs (created).  When the
            ``postgres`` user cannot enter it (e.g. under pytest's 0700
            ``tmp_path``), the cluster goes under the system temp dir.
        rasa_ports, actions_ports, redis_port, pg_port: TCP ports on 127.0.0.1.
        model: the trained model (``rasa run --model``).
        kb: the knowledge base copied to every action server.
        env: extra environment for the Rasa and action servers
            (e.g. ``{"KUYAKUSHO_TODAY": "2026-11-21"}``).
        api_token: turns Rasa's HTTP API on with this secret
            (``RASA_API_TOKEN``; see :meth:`api`); None: the API is off,
            unless ``RASA_API_TOKEN`` is in the environment.
        timeout: seconds to wait for each stage to come up (model loading
            takes 30-90 s per Rasa server on 2 cores).
    """

    def __init__(self, base: Path = DEFAULT_BASE, rasa_ports: Sequence[int] = DEFAULT_RASA_PORTS,
                 actions_ports: Sequence[int] = DEFAULT_ACTIONS_PORTS, redis_port: int = DEFAULT_REDIS_PORT,
                 pg_port: int = DEFAULT_PG_PORT, model: Path = ROOT / "models" / "kuyakusho.tar.gz",
                 kb: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300.0,
                 api_token: str | None = None) -> None:
        if not rasa_ports or not actions_ports:
            raise ValueError("need at least one Rasa port and one action-server port")
        self.base = Path(base).resolve()
        self.rasa_ports, self.actions_ports = list(rasa_ports), list(actions_ports)
        self.redis_port, self.pg_port = redis_port, pg_port
        self.model = Path(model)
        self.kb = Path(kb or os.environ.get("KB_PATH") or ROOT / "knowledge" / "kb.sqlite")
        self.extra_env = dict(env or {})
        if api_token:
            self.extra_env["RASA_API_TOKEN"] = api_token
        self.api_token = api_token or os.environ.get("RASA_API_TOKEN") or None
        self.timeout = timeout
        self.logs = self.base / "logs"
        self.pg_data = self.base / "pg"
        self.procs: dict[str, subprocess.Popen] = {}
        self.password = ""

    # ------------------------------------------------------------ addresses

    def url(self, rasa_port: int) -> str:
        """Base URL of the Rasa server on ``rasa_port``."""
        return f"http://{HOST}:{rasa_port}"

    def webhook(self, rasa_port: int) -> str:
        """REST webhook URL of the Rasa server on ``rasa_port``."""
        return self.url(rasa_port) + "/webhooks/rest/webhook"

    def api(self, rasa_port: int, path: str) -> str:
        """URL of Rasa's HTTP API ``path`` on ``rasa_port``, with ``?token=``.

        Raises:
            RuntimeError: the API is off (no ``api_token``).
        """
        if not self.api_token:
            raise RuntimeError("the HTTP API is off: give the stack an api_token")
        sep = "&" if "?" in path else "?"
        return f"{self.url(rasa_port)}{path}{sep}{urllib.parse.urlencode({'token': self.api_token})}"

    @property
    def redis_url(self) -> str:
        """``REDIS_URL`` of every Rasa server: the stack's Redis, db 1, which holds
        the lock store (``kuyakusho:lock:*``), the per-sender rate limit and
        LINE's redelivery memory (``kuyakusho:rate:*``, ``kuyakusho:line-event:*``)."""
        return f"redis://{HOST}:{self.redis_port}/1"

    @property
    def pg_dsn(self) -> str:
        """libpq connection string of the tracker database (for psycopg2 / psql)."""
        return f"host={HOST} port={self.pg_port} dbname={DB_NAME} user={DB_USER} password={self.password}"

    @property
    def tracker_env(self) -> dict[str, str]:
        """The variables ``endpoints.scaleout.yml`` reads for the tracker store (PostgreSQL);
        also what ``python -m bot.insights --endpoints endpoints.scaleout.yml`` needs."""
        return {"TRACKER_DB_HOST": HOST, "TRACKER_DB_PORT": str(self.pg_port), "TRACKER_DB": DB_NAME,
                "TRACKER_DB_USER": DB_USER, "TRACKER_DB_PASSWORD": self.password}

    def log(self, name: str) -> Path:
        """Log file of the process ``name`` (``redis``, ``postgres``, ``actions-PORT``, ``rasa-PORT``)."""
        return self.logs / f"{name}.log"

    def pids(self) -> dict[str, int]:
        """PID of every process of the stack that is still running, by name."""
        return {name: proc.pid for name, proc in self.procs.items() if proc.poll() is None}

    def _tails(self, names: Sequence[str]) -> str:
        return "\n".join(f"--- {name}.log\n" + self.log(name).read_text(errors="replace")[-2500:]
                         for name in names if self.log(name).exists())

    def _server_env(self) -> dict[str, str]:
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT),
               "SQLALCHEMY_SILENCE_UBER_WARNING": "1", **self.extra_env}
        # see bot/servers.py: the action server must not drop Rasa's idle keep-alive connections
        env.setdefault("SANIC_KEEP_ALIVE_TIMEOUT", "120")
        return env

    # ------------------------------------------------------------ start

    def start(self) -> Stack:
        """Start Redis and PostgreSQL, create the database, then the action
        servers and the Rasa servers; return when every one answers.

        Raises:
            FileNotFoundError: Redis, PostgreSQL, the model or the knowledge
                base is missing.
            OSError: a port is already in use.
            TimeoutError: something did not come up within ``timeout``
                seconds or exited (the message has the log tails).
        """
        for path, hint in ((self.model, "make train"), (self.kb, "make kb")):
            if not path.is_file():
                raise FileNotFoundError(f"{path} not found: run `{hint}` first")
        busy = [p for p in (*self.rasa_ports, *self.actions_ports, self.redis_port, self.pg_port) if _port_open(p)]
        if busy:
            raise OSError(f"port(s) already in use on {HOST}: {busy}")
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            self._start_redis()
            self._start_postgres()
            self._create_database()
            self._start_servers()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, names: Sequence[str], ready, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if ready():
                return
            dead = [n for n in names if self.procs[n].poll() is not None]
            if dead:
                raise TimeoutError(f"{what}: {', '.join(dead)} exited\n{self._tails(names)}")
            time.sleep(0.5)
        raise TimeoutError(f"{what} not up within {self.timeout:.0f} s\n{self._tails(names)}")

    def _start_redis(self) -> None:
        data = self.base / "redis"
        data.mkdir(parents=True, exist_ok=True)
        self.procs["redis"] = start([redis_server(), "--port", str(self.redis_port), "--bind", HOST,
                                     "--save", "", "--appendonly", "no", "--dir", str(data),
                                     "--daemonize", "no", "--logfile", ""],
                                    self.log("redis"), dict(os.environ))
        self._wait(["redis"], lambda: _port_open(self.redis_port), "Redis")

    def _as_postgres(self) -> dict[str, object]:
        """Popen arguments that run a PostgreSQL program as ``postgres`` when we are root."""
        if os.geteuid() != 0:
            return {}
        return {"user": "postgres", "group": "postgres", "extra_groups": []}

    def _pg_root(self) -> Path:
        """Where the cluster lives: ``base`` when the ``postgres`` user can
        enter it, else a directory of its own under the system temp dir
        (e.g. when the project sits under a 0700 home directory)."""
        as_pg = self._as_postgres()
        self.base.mkdir(parents=True, exist_ok=True)
        if not as_pg or subprocess.run(["test", "-x", str(self.base)], **as_pg).returncode == 0:
            return self.base
        digest = hashlib.sha1(str(self.base).encode(), usedforsecurity=False).hexdigest()[:10]  # a directory name
        root = Path(tempfile.gettempdir()) / f"kuyakusho-pg-{digest}"
        root.mkdir(mode=0o755, exist_ok=True)
        return root

    def _start_postgres(self) -> None:
        bindir = postgres_bin_dir()
        password_file = self.base / "tracker-db.password"
        as_pg = self._as_postgres()
        root = self._pg_root()
        self.pg_data = root / "pg"
        if not ((self.pg_data / "PG_VERSION").exists() and password_file.exists()):
            shutil.rmtree(self.pg_data, ignore_errors=True)
            self.pg_data.mkdir(parents=True, mode=0o700)
            password_file.write_text(secrets.token_urlsafe(24))
            password_file.chmod(0o600)
            init_pw = root / "initdb.pw"  # readable by the postgres user only while initdb runs
            init_pw.write_text(password_file.read_text())
            init_pw.chmod(0o600)
            if as_pg:
                shutil.chown(self.pg_data, "postgres", "postgres")
                shutil.chown(init_pw, "postgres", "postgres")
            try:
                with self.log("initdb").open("wb") as out:
                    done = subprocess.run([str(bindir / "initdb"), "-D", str(self.pg_data), "-U", DB_USER,
                                           f"--pwfile={init_pw}", "--auth=scram-sha-256", "-E", "UTF8",
                                           "--no-locale"], cwd=root, stdout=out, stderr=subprocess.STDOUT,
                                          **as_pg)
            finally:
                init_pw.unlink(missing_ok=True)
            if done.returncode:
                raise RuntimeError(f"initdb failed\n{self._tails(['initdb'])}")
        self.password = password_file.read_text().strip()
        self.procs["postgres"] = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(self.pg_data), "-p", str(self.pg_port),
             "-c", f"listen_addresses={HOST}", "-c", "unix_socket_directories="],
            cwd=root, stdout=self.log("postgres").open("ab"), stderr=subprocess.STDOUT, **as_pg)
        self._wait(["postgres"], self._pg_ready, "PostgreSQL")

    def _pg_ready(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(host=HOST, port=self.pg_port, dbname="postgres", user=DB_USER,
                             password=self.password, connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def _create_database(self) -> None:
        """The database and its tables, made once before the Rasa servers start
        (Rasa's ``login_db`` creates the database; the store creates the tables),
        so the servers do not race to create them."""
        from bot.tracker_store import MaskingSQLTrackerStore

        with warnings.catch_warnings():  # SQLAlchemy 2.0 deprecations in Rasa's store
            warnings.simplefilter("ignore")
            store = MaskingSQLTrackerStore(dialect="postgresql", host=HOST, port=self.pg_port, db=DB_NAME,
                                           username=DB_USER, password=self.password, login_db="postgres",
                                           retention_days=0)
        store.engine.dispose()

    def _copy_kb(self, port: int) -> Path:
        """A read-only copy of the knowledge base for the action server on ``port``
        (copied next to it, then renamed over the old copy)."""
        target = self.base / f"actions-{port}" / "kb.sqlite"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".copying")
        shutil.copyfile(self.kb, partial)
        partial.chmod(0o444)
        os.replace(partial, target)
        return target

    def _start_servers(self) -> None:
        env = self._server_env()
        for port in self.actions_ports:
            self.procs[f"actions-{port}"] = start(
                actions_command(port), self.log(f"actions-{port}"),
                {**env, "SANIC_HOST": HOST, "KB_PATH": str(self._copy_kb(port))})
        store_env = {**self.tracker_env, "REDIS_URL": self.redis_url}
        for i, port in enumerate(self.rasa_ports):
            actions = self.actions_ports[i % len(self.actions_ports)]
            self.procs[f"rasa-{port}"] = start(
                rasa_command("-i", HOST, "--port", str(port), "--model", str(self.model),
                             "--endpoints", "endpoints.scaleout.yml", "--credentials", "credentials.yml"),
                self.log(f"rasa-{port}"),
                {**env, **store_env, "ACTION_ENDPOINT_URL": f"http://{HOST}:{actions}/webhook"})
        names = [f"actions-{p}" for p in self.actions_ports] + [f"rasa-{p}" for p in self.rasa_ports]

        def ready() -> bool:  # a Rasa server listens only once its model is loaded
            return (all(_get(f"http://{HOST}:{p}/health") is not None for p in self.actions_ports)
                    and all(answers(self.url(p) + "/") for p in self.rasa_ports))

        self._wait(names, ready, "Rasa and action servers")

    # ------------------------------------------------------------ stop

    def kill(self, name: str) -> int:
        """SIGKILL the process ``name`` (e.g. ``rasa-6005``) and reap it; its PID."""
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return proc.pid

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every process this stack started: the Rasa servers and action
        servers (SIGTERM), then PostgreSQL (SIGINT: fast shutdown) and Redis
        (SIGTERM); SIGKILL for any still running after ``timeout`` seconds."""
        servers = [n for n in self.procs if n.startswith(("rasa-", "actions-"))]
        stores = [n for n in ("postgres", "redis") if n in self.procs]
        for group in (servers, stores):
            for name in group:
                if self.procs[name].poll() is None:
                    self.procs[name].send_signal(signal.SIGINT if name == "postgres" else signal.SIGTERM)
            for name in group:
                proc = self.procs[name]
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=timeout)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _ports(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bot.scaleout``: run the stack in the foreground until Ctrl-C / SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m bot.scaleout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, default=DEFAULT_BASE, help="working directory (default: %(default)s)")
    parser.add_argument("--rasa-ports", type=_ports, default=list(DEFAULT_RASA_PORTS), help="e.g. 6005,6006")
    parser.add_argument("--actions-ports", type=_ports, default=list(DEFAULT_ACTIONS_PORTS), help="e.g. 6055")
    parser.add_argument("--redis-port", type=int, default=DEFAULT_REDIS_PORT)
    parser.add_argument("--pg-port", type=int, default=DEFAULT_PG_PORT)
    args = parser.parse_args(argv)
    stack = Stack(args.base, args.rasa_ports, args.actions_ports, args.redis_port, args.pg_port)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    print(f"starting the scale-out stack in {stack.base} (each Rasa server takes 30-90 s to load the model) ...",
          flush=True)
    try:
        stack.start()
        print(json.dumps({"pids": stack.pids()}))
        print(f"""
kuyakusho-bot scale-out stack (loopback only; logs in {stack.logs}):
  Redis lock store:          {HOST}:{stack.redis_port}
  PostgreSQL tracker store:  {HOST}:{stack.pg_port}  database {DB_NAME}, user {DB_USER},
                             password in {stack.base}/tracker-db.password
  action server(s):          {', '.join(f'http://{HOST}:{p}' for p in stack.actions_ports)}
  Rasa server(s):            {', '.join(stack.url(p) for p in stack.rasa_ports)}
Put any load balancer in front of the Rasa servers; any server can take any turn.
  curl -s {stack.webhook(stack.rasa_ports[0])} -H 'Content-Type: application/json' \\
    -d '{{"sender":"me","message":"住民票はどこで取れますか"}}'
Stop with Ctrl-C.
""", flush=True)
        while True:
            dead = [name for name, proc in stack.procs.items() if proc.poll() is not None]
            if dead:
                print(f"stopped unexpectedly: {', '.join(dead)} (see {stack.logs}); stopping the rest", file=sys.stderr)
                return 1
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("stopping ...", flush=True)
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
