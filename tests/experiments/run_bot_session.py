"""Run one oTree bot session with chosen session-config fields and export its data.

Run with the oTree environment's Python from the oTree project folder:
``python run_bot_session.py CONFIG PARTICIPANTS CASE OUTDIR [NAME=VALUE ...]``.
It does what ``otree test CONFIG N --export`` does, for one bot case, but lets the test
change config fields (``otree test`` cannot), e.g. fewer rounds for a large session.
"""

import os
import sys
import time

ARGS = sys.argv[1:]
os.environ["OTREE_IN_MEMORY"] = "1"     # as `otree test` does
sys.argv = ["otree", "test"]

from otree.main import setup  # noqa: E402

setup()

from otree import export  # noqa: E402
from otree.bots.runner import run_bots  # noqa: E402
from otree.session import create_session  # noqa: E402


def main(config, participants, case, outdir, *assignments):
    fields = {}
    for item in assignments:
        name, _, value = item.partition("=")
        fields[name] = int(value) if value.lstrip("-").isdigit() else value
    os.makedirs(outdir, exist_ok=True)
    start = time.time()
    session = create_session(session_config_name=config, num_participants=int(participants),
                             modified_session_config_fields=fields)
    run_bots(session.id, case_number=int(case))
    app = session.config["app_sequence"][0]
    with open(os.path.join(outdir, f"{app}_custom.csv"), "w", newline="", encoding="utf8") as fp:
        export.custom_export_app(app, fp)
    with open(os.path.join(outdir, "all_apps_wide.csv"), "w", newline="", encoding="utf8") as fp:
        export.export_wide(fp)
    print(f"Bots completed session {session.code} in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main(*ARGS)
