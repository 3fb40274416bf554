"""A throw-away Redis for tests: Debian's ``redis-server`` on 127.0.0.1 and a free port.

    with RedisServer(tmp_path) as redis:   # redis.url == "redis://127.0.0.1:PORT/0"
        ...

Nothing is saved to disk.  :data:`REDIS_SERVER` is None when it is not
installed (``scripts/scaleout.sh --install-only`` installs it); tests then skip.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from conftest import free_port

REDIS_SERVER: str | None = shutil.which("redis-server") or (
    "/usr/bin/redis-server" if Path("/usr/bin/redis-server").is_file() else None)
SKIP_REASON = "redis-server is not installed (scripts/scaleout.sh --install-only)"


class RedisServer:
    """One ``redis-server`` process (see the module docstring); ``url`` once started."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.port = Path(directory), free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> RedisServer:
        if REDIS_SERVER is None:
            raise FileNotFoundError(SKIP_REASON)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.directory), "--logfile", ""],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
