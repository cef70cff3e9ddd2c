"""Browser fixtures: headless Debian Chromium driven by Playwright, servers on loopback ports.

Screenshots go to ``test-output/screenshots/<test name>/`` under the repository (kept after the
run, ignored by git; ``QUANT_TEST_OUTPUT`` moves the folder), with each server's log beside
them. The tests skip, saying why, where Playwright or Chromium is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

CHROMIUM = Path(os.environ.get("QUANT_CHROMIUM", "/usr/bin/chromium"))
TEST_OUTPUT = Path(os.environ.get("QUANT_TEST_OUTPUT", REPO_ROOT / "test-output"))
SCREENSHOTS = TEST_OUTPUT / "screenshots"
TIMEOUT_MS = 120_000  # the UIs load slowly on a busy 2-core machine


@dataclass
class Screenshots:
    """Numbered full-page screenshots of one test, in the order taken."""

    folder: Path
    taken: int = 0

    def take(self, page, name: str) -> Path:
        self.taken += 1
        path = self.folder / f"{self.taken:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session (Debian's package, not a downloaded build)."""
    if not CHROMIUM.is_file():
        pytest.skip(
            f"Chromium not found at {CHROMIUM}: `apt-get install chromium` (done by "
            "`make install` as root) or set QUANT_CHROMIUM to its executable"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install -e '.[dev]'"
    )
    sync_api.expect.set_options(timeout=TIMEOUT_MS)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Screenshots:
    """This test's screenshot folder, emptied first so it shows only the latest run."""
    folder = SCREENSHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"screenshots: {folder}")
    return Screenshots(folder)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Server:
    """A server process (and its process group) answering on loopback."""

    url: str
    process: subprocess.Popen
    log: Path


@pytest.fixture
def serve(screenshots: Screenshots) -> Iterator:
    """``serve(command, url, ready_path, env)`` starts a server and waits until it answers.

    Its output goes to ``server-N.log`` beside the screenshots. Every server started is
    stopped at teardown: SIGINT to its process group, then SIGKILL
    to whatever of the group is left.
    """
    started: list[Server] = []

    def start(command: Sequence[str], url: str, ready_path: str, env: dict[str, str]) -> Server:
        log = screenshots.folder / f"server-{len(started)}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                list(command),
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(url, process, log)
        started.append(server)
        _wait_until_answering(server, url + ready_path, timeout=420.0)
        return server

    yield start
    for server in started:
        _stop(server.process)


def _wait_until_answering(server: Server, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text()[-3000:]
            raise AssertionError(f"{server.process.args[:2]} exited early:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # helpers the server left behind
    process.wait(timeout=30)
