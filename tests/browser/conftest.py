"""Fixtures for the dashboard's tests in a real browser: Debian's chromium (/usr/bin/chromium, no browser
download) driven by Playwright for Python (pinned in tests/requirements.txt), against `llmgw dev` processes
started the way tests/e2e starts them (their helpers are reused from tests/e2e/conftest.py).

Every page a test opens is watched: a console error, an uncaught exception or a Content-Security-Policy
violation fails the test, unless the test said it expects that console message (a 401 it provoked)."""
import importlib.util
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LLMGW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(os.environ.get("LLMGW_SCREENSHOTS", ROOT / "build" / "test-reports" / "screenshots"))
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _e2e():
    """tests/e2e/conftest.py as a module of its own name (importing it as `conftest` would be this file)."""
    spec = importlib.util.spec_from_file_location("e2e_support", ROOT / "tests" / "e2e" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _e2e()


def binary() -> str:
    path = os.environ.get("LLMGW_BIN")
    if not path:
        pytest.fail("LLMGW_BIN is not set: run the browser tests through scripts/test.sh", pytrace=False)
    return path


class Dev:
    """One `llmgw dev` (mock Kafka, SQLite ledger in the test's directory) on a free port."""

    def __init__(self, tmp_path: Path, name: str, args=(), **env_extra):
        self.port = e2e.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGW_")}
        env.update({"LLMGW_PORT": str(self.port), "LLMGW_DATABASE_URL": f"sqlite:{tmp_path / (name + '.db')}"})
        env.update({k: str(v) for k, v in env_extra.items()})
        self.proc = e2e.Proc(name, [binary(), "dev", *args], env, tmp_path / f"{name}.log")
        e2e.wait_ready(self.port, self.proc, timeout=90)

    def stop(self, failed: bool) -> None:
        code = self.proc.stop(timeout=60)
        out = self.proc.output()
        if failed or code != 0:
            print(f"\n----- {self.proc.name} (last lines) -----\n{out[-6000:]}")
        assert code == 0, f"{self.proc.name} exited with {code}"
        assert not any(m in out for m in e2e.SANITIZER_MARKERS), f"sanitizer report in {self.proc.name}"


def new_key() -> tuple:
    """A tenant key and its hash, from `llmgw keys new` (as tests/e2e's Cluster makes one)."""
    out = subprocess.run([binary(), "keys", "new", "--tenant", "acme"], capture_output=True, text=True,
                         check=True).stdout
    fields = dict(line.split(": ", 1) for line in out.strip().splitlines())
    return fields["key"], fields["sha256"]


def _failed(request) -> bool:
    return any(getattr(request.node, f"rep_{w}", None) is not None and getattr(request.node, f"rep_{w}").failed
               for w in ("setup", "call"))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _start_dev(request, tmp_path, name, args=(), **env):
    dev = Dev(tmp_path, name, args, **env)
    request.addfinalizer(lambda: dev.stop(_failed(request)))
    return dev


@pytest.fixture
def dev_echo(request, tmp_path):
    """`llmgw dev` as it starts with no configuration: keyless, every model answered by echo."""
    return _start_dev(request, tmp_path, "dev-echo")


@pytest.fixture
def dev_sim(request, tmp_path):
    """`llmgw dev --simulate`: simulated OpenAI, Anthropic, Gemini and Mistral beside echo."""
    return _start_dev(request, tmp_path, "dev-sim", ["--simulate"])


@pytest.fixture
def dev_sim_steady(request, tmp_path):
    """`llmgw dev --simulate` without the occasional failure (LLMGW_SIMULATE_FAILURE_PCT=0), where a test
    needs each strategy's own first choice rather than a fallback."""
    return _start_dev(request, tmp_path, "dev-sim-steady", ["--simulate"], LLMGW_SIMULATE_FAILURE_PCT=0)


@pytest.fixture
def dev_keyed(request, tmp_path):
    """`llmgw dev` with one tenant key configured, so a call without it (or with another) is a 401."""
    key, digest = new_key()
    dev = _start_dev(request, tmp_path, "dev-keyed", LLMGW_TENANT_KEYS=f"acme:{digest}")
    dev.key = key
    return dev


@pytest.fixture
def dev_slow_openai(request, tmp_path):
    """`llmgw dev` with OpenAI's key set and its base URL on tests/fakes/fake_openai.py, which streams
    "slowstream <n>" as n words 100 ms apart: a provider whose stream takes visible time."""
    port, proc = e2e.start_fake("fake_openai.py")
    request.addfinalizer(lambda: (proc.terminate(), proc.wait()))
    return _start_dev(request, tmp_path, "dev-openai", LLMGW_OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1",
                      LLMGW_OPENAI_API_KEY="sk-fake-test-key")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    from importlib.metadata import version

    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"\nplaywright {version('playwright')}, {chromium} ({CHROMIUM})")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        print(f"browser version as launched: {b.version}")
        yield b
        b.close()


class Watch:
    """What a page said that it should not: console errors, uncaught exceptions, CSP violations."""

    def __init__(self):
        self.problems = []
        self.allowed = []

    def allow(self, pattern: str) -> None:
        """Console errors matching pattern (a regex) are expected in this test."""
        self.allowed.append(re.compile(pattern))

    def console(self, msg) -> None:
        if msg.type == "error" and not any(p.search(msg.text) for p in self.allowed):
            self.problems.append(f"console error: {msg.text} ({msg.location.get('url', '')})")

    def check(self, page) -> None:
        violations = page.evaluate("window.__csp || []") if not page.is_closed() else []
        problems = self.problems + [f"CSP violation: {v}" for v in violations]
        assert not problems, "the page reported problems:\n" + "\n".join(problems)


# Recorded in the page before any of its own scripts run (Playwright adds it through the DevTools protocol,
# which the page's CSP does not govern).
CSP_LISTENER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`));
"""


@pytest.fixture
def open_page(browser, request):
    """open_page(url, viewport=DESKTOP, color_scheme='light', allow=()) -> (page, watch), in a fresh context
    (empty cache and storage); each page is checked for console errors (but those matching a regex of allow)
    and CSP violations when the test ends."""
    contexts = []

    def opener(url, viewport=None, color_scheme="light", allow=()):
        ctx = browser.new_context(viewport=viewport or DESKTOP, color_scheme=color_scheme)
        contexts.append(ctx)
        page = ctx.new_page()
        watch = Watch()
        for pattern in allow:
            watch.allow(pattern)
        page.add_init_script(CSP_LISTENER)
        page.on("console", watch.console)
        page.on("pageerror", lambda e: watch.problems.append(f"uncaught: {e}"))
        page.goto(url)
        page.wait_for_function("() => document.querySelector('#updated').textContent !== ''")  # first refresh done
        pages.append((page, watch))
        return page, watch

    pages = []
    yield opener
    try:
        if not _failed(request):
            for page, watch in pages:
                watch.check(page)
    finally:
        for ctx in contexts:
            ctx.close()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    page.screenshot(path=str(SCREENSHOTS / f"{name}-full.png"), full_page=True)
    return path
