"""``cheaptalk experiment [CONFIG]``: run a lab session of an oTree app on this machine.

Starts the oTree server of ``experiments/`` on 127.0.0.1 (the development server, or oTree's
production server with ``--prodserver``), creates a session of CONFIG and prints the
session-wide link, the admin page and one link per participant; the server keeps running
until Ctrl+C. The oTree environment (``.venv-otree/``) is created on first use.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from ..errors import InputError
from .common import dump_json, number_in

DEFAULT_CONFIG = "forecast_LC_LU"


def register(sub):
    p = sub.add_parser(
        "experiment", help="start the oTree server, create a session and print its links",
        description="Start the oTree server of the experiments/ project on 127.0.0.1, create a "
                    "session of CONFIG and print the session-wide link and one link per "
                    "participant. The server runs until Ctrl+C. Export the data from the admin "
                    "page (Data: forecast_sharing custom export = the long format) or convert "
                    "oTree's wide export with `cheaptalk import-otree`. See docs/experiments.md.")
    p.add_argument("config", nargs="?", default=DEFAULT_CONFIG,
                   help=f"session configuration (default: {DEFAULT_CONFIG}; --list shows all)")
    p.add_argument("--participants", "-n", type=number_in(2, 10_000, "--participants", whole=True), default=2,
                   help="number of participants, even (default: 2)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="fields",
                   help="change a session config field, e.g. --set num_rounds=20 --set "
                        "matching=partners --set game=my_game.toml (repeatable)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--prodserver", action="store_true",
                   help="run oTree's production server (timeouts fire for participants who closed "
                        "their browser; set OTREE_PRODUCTION, OTREE_AUTH_LEVEL, "
                        "OTREE_ADMIN_PASSWORD, DATABASE_URL in the environment for a lab run)")
    p.add_argument("--project", type=Path, default=None, help="oTree project folder (default: experiments/)")
    p.add_argument("--list", action="store_true", help="list the session configurations and exit")
    p.add_argument("--no-wait", action="store_true",
                   help="stop the server right after printing the links (for scripts and checks)")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                   help="print the session's links as JSON (to FILE, or standard output)")
    p.set_defaults(func=run)


def _parse_fields(items: list[str]) -> dict:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--set expects NAME=VALUE, got {item!r}")
        text = value.strip()
        if text.lower() in ("true", "false"):
            out[name.strip()] = text.lower() == "true"
            continue
        try:
            out[name.strip()] = int(text)
        except ValueError:
            try:
                out[name.strip()] = float(text)
            except ValueError:
                out[name.strip()] = text
    return out


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args) -> int:
    from ..experiments import otree_env

    if args.project is None and not (otree_env.PROJECT_DIR / "settings.py").exists():
        raise otree_env.OTreeEnvError(
            "the oTree apps are not installed with the package: `cheaptalk experiment` runs from a "
            "source checkout of cheaptalk (git clone, then pip install -e \".[all]\"), or give the "
            "folder of such a checkout's experiments/ project with --project DIR")
    project = (args.project or otree_env.PROJECT_DIR).resolve()
    if not (project / "settings.py").exists():
        raise InputError(f"{project}: not an oTree project (no settings.py)")
    otree_env.ensure_venv(project=project)
    configs = otree_env.session_configs(project)
    if args.list:
        if args.json:
            dump_json({"configs": configs}, args.json)
        else:
            width = max(len(c["name"]) for c in configs)
            for c in configs:
                print(f"{c['name']:<{width}}  {c.get('display_name', '')}")
        return 0
    names = [c["name"] for c in configs]
    if args.config not in names:
        raise InputError(f"no session configuration {args.config!r}; choose one of {', '.join(names)}")
    if args.participants % 2:
        raise InputError(f"--participants must be an even number (pairs play), got {args.participants}")
    fields = _parse_fields(args.fields)
    unknown = set(fields) - set(next(c for c in configs if c["name"] == args.config))
    if unknown:
        raise InputError(f"--set: {sorted(unknown)} are not fields of {args.config}")

    log = project / "__temp_server.log"
    server = otree_env.OTreeServer(project=project, port=args.port, production=args.prodserver,
                                   log_path=log)
    # the server runs in a session of its own (Ctrl+C in the terminal must not reach it
    # half-way through a write): a SIGTERM or SIGHUP to this command stops it like Ctrl+C
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    server.start()
    try:
        session = server.create_session(args.config, args.participants, fields)
        out = {"config": args.config, "server": server.base_url, "mode": "prodserver" if args.prodserver else "devserver",
               "session_code": session["code"], "session_wide_url": session["session_wide_url"],
               "admin_url": session["admin_url"], "participant_urls": session["participant_urls"],
               "export_url": f"{server.base_url}/ExportIndex", "server_log": str(log)}
        if args.json:
            dump_json(out, args.json)
        if not args.json or args.json != "-":
            print(f"oTree server ({out['mode']}) on {server.base_url}; log in {log}")
            print(f"session {session['code']} of {args.config} with {args.participants} participants")
            print(f"  session-wide link (each browser becomes the next participant): {session['session_wide_url']}")
            print(f"  admin page (monitor, data, payments): {session['admin_url']}")
            print(f"  data export: {out['export_url']}")
            print("  participant links:")
            for url in session["participant_urls"]:
                print(f"    {url}")
        sys.stdout.flush()
        if args.no_wait:
            return 0
        print("Press Ctrl+C to stop the server.", file=sys.stderr, flush=True)
        while server.process.poll() is None:
            time.sleep(1)
        print(f"the oTree server stopped (exit code {server.process.returncode}); see {log}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
