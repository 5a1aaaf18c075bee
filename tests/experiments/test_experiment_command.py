"""`cheaptalk experiment` starts the server, creates a session and prints working links."""

import json
import signal
import subprocess
import sys
import time
import urllib.request

from cheaptalk.experiments.otree_env import free_port


def test_experiment_command_prints_links_that_open_the_session(project_copy, otree_bin):
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", "experiment", "sender_receiver_monotone",
                           "--participants", "4", "--set", "num_rounds=3", "--set", "matching=partners",
                           "--project", str(project_copy), "--port", str(port), "--no-wait", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    links = json.loads(done.stdout)
    assert links["config"] == "sender_receiver_monotone"
    assert len(links["participant_urls"]) == 4
    assert links["session_wide_url"].startswith(f"http://127.0.0.1:{port}/join/")
    # --no-wait stopped the server again
    try:
        urllib.request.urlopen(links["session_wide_url"], timeout=3)
        still_running = True
    except OSError:
        still_running = False
    assert not still_running


def test_the_server_keeps_running_until_interrupted_and_the_link_opens_the_game(project_copy, otree_bin, tmp_path):
    links_file = tmp_path / "links.json"
    process = subprocess.Popen([sys.executable, "-m", "cheaptalk.cli.main", "experiment", "forecast_HC_HU",
                                "--project", str(project_copy), "--port", str(free_port()),
                                "--json", str(links_file)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not links_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
        assert links_file.exists(), process.stderr.read() if process.poll() is not None else "no links"
        time.sleep(0.5)
        links = json.loads(links_file.read_text())
        with urllib.request.urlopen(links["session_wide_url"], timeout=30) as page:
            html = page.read().decode()
        assert "Instructions" in html and "capacity" in html
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-3000:]
    assert "participant links" in out


def test_a_sigterm_stops_the_command_and_its_server(project_copy, otree_bin, tmp_path):
    links_file = tmp_path / "links.json"
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "cheaptalk.cli.main", "experiment", "sender_receiver_monotone",
                                "--project", str(project_copy), "--port", str(port), "--json", str(links_file)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not links_file.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
    assert links_file.exists(), process.stderr.read() if process.poll() is not None else "no links"
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3)
        still_listening = True
    except OSError:
        still_listening = False
    assert not still_listening


def test_experiment_command_lists_configs_and_refuses_unknown_ones(project_copy, otree_bin):
    listed = subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", "experiment", "--list",
                             "--project", str(project_copy)], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "forecast_HC_HU" in listed.stdout and "sender_receiver_crawford_sobel" in listed.stdout
    wrong = subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", "experiment", "no_such_config",
                            "--project", str(project_copy)], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "no session configuration 'no_such_config'" in wrong.stderr
    bad_field = subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", "experiment", "forecast_LC_LU",
                                "--set", "colour=blue", "--project", str(project_copy)],
                               capture_output=True, text=True, timeout=120)
    assert bad_field.returncode == 2 and "colour" in bad_field.stderr
