"""The oTree environment and server: create the virtual environment, start a server,
create a session through oTree's REST API.

oTree 6 pins old versions of web libraries (click, markupsafe, starlette, ...) that clash
with this toolkit's environment, so the oTree project in ``experiments/`` runs from its own
virtual environment (``.venv-otree/`` at the repository root, created on first use from
``experiments/requirements.txt``). This toolkit is installed there without dependencies
(``pip install --no-deps -e .``): the apps import only ``cheaptalk.games`` and
``cheaptalk.experiments.lab``, which need NumPy and SciPy (pinned in the requirements), so
the game a session plays is read from the same game file the estimator reads.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OTreeEnvError  # noqa: F401 (defined there, raised here)

__all__ = ["REPO_ROOT", "PROJECT_DIR", "VENV_DIR", "OTreeEnvError", "ensure_venv", "otree_bin",
           "free_port", "OTreeServer", "session_configs"]

REPO_ROOT = Path(__file__).resolve().parents[3]
PROJECT_DIR = REPO_ROOT / "experiments"
VENV_DIR = REPO_ROOT / ".venv-otree"
_STAMP = ".cheaptalk-requirements"


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def otree_bin(venv: Path = VENV_DIR) -> Path:
    return venv / "bin" / "otree"


def _stamp_text(project: Path) -> str:
    requirements = (project / "requirements.txt").read_bytes()
    return hashlib.sha256(requirements + str(REPO_ROOT).encode()).hexdigest()


def ensure_venv(venv: Path = VENV_DIR, project: Path = PROJECT_DIR, *, quiet: bool = True) -> Path:
    """Create or update the oTree virtual environment if its requirements changed.

    Returns the path of the ``otree`` command. A lock file keeps two processes from
    building the environment at the same time.
    """
    venv, project = Path(venv), Path(project)
    if not (project / "requirements.txt").exists():
        raise OTreeEnvError(f"{project}: no requirements.txt (is this the oTree project folder?)")
    want = _stamp_text(project)
    stamp = venv / _STAMP
    if stamp.exists() and stamp.read_text().strip() == want and otree_bin(venv).exists():
        return otree_bin(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text().strip() == want and otree_bin(venv).exists():
            return otree_bin(venv)
        print(f"setting up the oTree environment in {venv} (once) ...", file=sys.stderr, flush=True)
        q = ["-q"] if quiet else []
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(_venv_python(venv)), "-m", "pip", "install", *q, "--disable-pip-version-check",
             "-r", str(project / "requirements.txt")],
            [str(_venv_python(venv)), "-m", "pip", "install", *q, "--disable-pip-version-check",
             "--no-deps", "-e", str(REPO_ROOT)],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=quiet, text=True)
            if done.returncode != 0:
                raise OTreeEnvError(f"setting up {venv} failed at: {' '.join(step)}\n"
                                    f"{(done.stderr or '')[-3000:]}")
        stamp.write_text(want + "\n")
    return otree_bin(venv)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_configs(project: Path = PROJECT_DIR, venv: Path = VENV_DIR) -> list[dict]:
    """The session configurations of the oTree project (name, display name, fields)."""
    code = ("import json, settings; print(json.dumps([{k: v for k, v in c.items() "
            "if isinstance(v, (str, int, float, bool, list))} for c in settings.SESSION_CONFIGS]))")
    done = subprocess.run([str(_venv_python(venv)), "-c", code], cwd=project, capture_output=True, text=True)
    if done.returncode != 0:
        raise OTreeEnvError(f"{project}/settings.py could not be read:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def _sqlite_in_wal_mode(env: dict, project: Path) -> None:
    """Put the production server's SQLite database in write-ahead-log mode.

    oTree's production server has a second process (the timeout worker, which submits the
    pages of participants who dropped out) using the database while the server writes; in
    SQLite's default journal mode a reader blocks the writer and the worker's submission fails
    with "database is locked". In WAL mode readers do not block the writer. With SQLite,
    oTree 6 always uses ``db.sqlite3`` in the project folder (whatever path DATABASE_URL
    names). A lab server should use PostgreSQL anyway (docs/experiments.md).
    """
    url = env.get("DATABASE_URL", "sqlite://")
    if not url.startswith("sqlite"):
        return
    with sqlite3.connect(Path(project) / "db.sqlite3") as connection:
        connection.execute("PRAGMA journal_mode=WAL")


@dataclass
class OTreeServer:
    """A running oTree server on 127.0.0.1 (``devserver_inner`` or ``prodserver``).

    ``env`` adds environment variables (``OTREE_PRODUCTION``, ``OTREE_AUTH_LEVEL``,
    ``OTREE_ADMIN_PASSWORD``, ``OTREE_REST_KEY``, ``DATABASE_URL`` ...). The server runs in
    its own process group, so :meth:`stop` also ends oTree's timeout worker.
    """

    project: Path = PROJECT_DIR
    port: int = 0
    production: bool = False
    env: dict = field(default_factory=dict)
    venv: Path = VENV_DIR
    log_path: Path | None = None
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "OTreeServer":
        self.port = self.port or free_port()
        env = dict(os.environ)
        env.update({k: str(v) for k, v in self.env.items()})
        # oTree's prodserver starts `otree timeoutsubprocess` by name: put the venv first on PATH
        env["PATH"] = f"{Path(self.venv) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        if self.production:
            _sqlite_in_wal_mode(env, self.project)
        command = "prodserver" if self.production else "devserver_inner"
        log = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen([str(otree_bin(self.venv)), command, f"127.0.0.1:{self.port}"],
                                        cwd=self.project, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = Path(self.log_path).read_text()[-3000:] if self.log_path else ""
                raise OTreeEnvError(f"the oTree server exited with code {self.process.returncode}\n{tail}")
            try:
                urllib.request.urlopen(self.base_url + "/api/otree_version", timeout=2).read()
                return self
            except urllib.error.HTTPError:
                return self     # it answers (403 without the REST key in production)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        self.stop()
        raise OTreeEnvError(f"the oTree server did not answer on {self.base_url} within {timeout:.0f} s")

    def stop(self) -> None:
        """Stop the server (SIGINT first, so the development server saves its database)."""
        if self.process is None or self.process.poll() is not None:
            return
        pgid = os.getpgid(self.process.pid)
        os.killpg(pgid, signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait(timeout=5)
        try:   # the timeout worker of prodserver shares the group
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- REST API ------------------------------------------------------------------------
    def _rest(self, path: str, payload: dict | None = None, method: str = "POST"):
        data = json.dumps(payload or {}).encode()
        request = urllib.request.Request(self.base_url + path, data=data if method == "POST" else None,
                                         method=method, headers={"Content-Type": "application/json"})
        key = self.env.get("OTREE_REST_KEY") or os.environ.get("OTREE_REST_KEY")
        if key:
            request.add_header("otree-rest-key", key)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise OTreeEnvError(f"oTree refused {method} {path}: HTTP {exc.code}: "
                                f"{exc.read().decode(errors='replace')[:2000]}") from None

    def create_session(self, config: str, participants: int, fields: dict | None = None) -> dict:
        """Create a session; returns its code, the session-wide URL, the admin URL and one
        start URL per participant."""
        created = self._rest("/api/sessions", {"session_config_name": config,
                                               "num_participants": int(participants),
                                               "modified_session_config_fields": fields or {}})
        info = self._rest(f"/api/get_session/{created['code']}", {})
        created["participant_urls"] = [f"{self.base_url}/InitializeParticipant/{p['code']}"
                                       for p in info["participants"]]
        created["participant_codes"] = [p["code"] for p in info["participants"]]
        return created

    def download(self, path: str) -> bytes:
        """GET a page or export of the server (with the REST key when one is set)."""
        request = urllib.request.Request(self.base_url + path)
        key = self.env.get("OTREE_REST_KEY") or os.environ.get("OTREE_REST_KEY")
        if key:
            request.add_header("otree-rest-key", key)
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.read()
