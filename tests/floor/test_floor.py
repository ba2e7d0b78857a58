"""The floor in headless Chromium, live during a scripted shift (see README.md)."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("NIGHTSHIFT_BIN_DIR", Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "debug"))
SHOTS = Path(os.environ.get("NIGHTSHIFT_SCREENSHOTS", REPO / "target" / "floor-screenshots"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

CONFIG = """[store]
url = "sqlite://ledger.db"

[[provider]]
name = "scripted"
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"

[[model]]
name = "agent-model"
provider = "scripted"
input_usd_per_mtok = "1.00"
output_usd_per_mtok = "4.00"
"""

# Each iteration appends a line and takes two seconds: long enough to see it running.
SPEC = """name = "browser"

[fleet]
repos = ["calc", "wordcount"]

[recipe]
prompt = "Keep a log."
worker = "command"
model = "agent-model"
command = '''
date +%s%N >> log.txt
sleep 2
'''

[gates]
commands = []

[stop]
max_iterations = 20
stall_iterations = 20

[budget]
shift_usd = 1
job_usd = "0.50"
"""


def make_world(tmp):
    """Two repositories, the configuration and the spec, in `tmp`."""
    for name in ("calc", "wordcount"):
        repo = tmp / name
        repo.mkdir()
        (repo / "README.md").write_text(f"{name}\n")
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "start")
    (tmp / "nightshift.toml").write_text(CONFIG)
    (tmp / "shift.toml").write_text(SPEC)


def binary():
    path = BIN / "nightshift"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `cargo build -p nightshift` (or set NIGHTSHIFT_BIN_DIR)")
    return path


def env():
    e = {**os.environ, "NIGHTSHIFT_LOG": "error"}
    e.pop("NIGHTSHIFT_CONFIG", None)
    return e


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


@pytest.fixture()
def floor():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_world(tmp)
        run = subprocess.Popen([binary(), "run", "shift.toml", "--config", "nightshift.toml", "--json"],
                               cwd=tmp, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        serve = subprocess.Popen([binary(), "serve", "--config", "nightshift.toml", "--listen", "127.0.0.1:0"],
                                 cwd=tmp, env=env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            base = serve.stdout.readline().strip().rstrip("/")
            assert base.startswith("http://127.0.0.1:"), base
            yield base
        finally:
            for p in (run, serve):
                p.kill()
                p.wait()


def api(base, path):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return json.load(r)


def test_a_supervisor_watches_a_job_get_accepted_live_and_pauses_it(floor):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("dialog", lambda d: d.accept())

        # The line: the shift with its jobs, live.
        page.goto(floor + "/#/")
        expect(page.locator("tr[data-shift=browser]")).to_be_visible(timeout=20_000)
        expect(page.locator("#live")).to_have_text("live", timeout=10_000)
        page.screenshot(path=SHOTS / "line.png", full_page=True)

        # A shift: its jobs table.
        page.goto(floor + "/#/shift/browser")
        expect(page.locator("tr[data-job=calc]")).to_be_visible(timeout=10_000)
        page.screenshot(path=SHOTS / "shift.png", full_page=True)

        # A job: an iteration goes from running to accepted on the page, with no reload.
        page.goto(floor + "/#/job/browser/calc")
        page.evaluate("window.__no_reload = true")
        running = page.locator(".iteration .state.running")
        expect(running.first).to_be_visible(timeout=20_000)
        n = running.first.locator("xpath=..").get_attribute("data-n")
        accepted = page.locator(f'.iteration[data-n="{n}"] .state.accepted')
        expect(accepted).to_be_visible(timeout=20_000)
        assert page.evaluate("window.__no_reload") is True, "the page was reloaded"
        page.screenshot(path=SHOTS / "job.png", full_page=True)

        # Paused from the job page: the page says so, and so does the API.
        page.click("#job-pause")
        expect(page.locator("#job-state")).to_have_text("paused", timeout=10_000)
        job = api(floor, "/api/v1/shifts/browser/jobs/calc")
        assert job["paused"]["by"] == "floor (loopback)"
        time.sleep(3)  # the iteration at work ends; no other starts
        settled = len(api(floor, "/api/v1/shifts/browser/jobs/calc")["iterations"])
        time.sleep(2.5)
        assert len(api(floor, "/api/v1/shifts/browser/jobs/calc")["iterations"]) == settled
        page.screenshot(path=SHOTS / "job-paused.png", full_page=True)
        assert page.evaluate("window.__no_reload") is True
        browser.close()
