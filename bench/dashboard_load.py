#!/usr/bin/env python3
"""The dashboard's cold load: bytes on the wire and time, in Debian's chromium driven by Playwright.

Starts `llmgw dev` (with ARGS, e.g. --simulate) on a fresh SQLite ledger, sends a few requests so the page has
rows and charts to draw, then opens GET / N times, each in a fresh browser context (empty cache, no cookies,
no storage) at 1280x900, and measures from the DevTools protocol's network events:
  - bytes on the wire: the sum of every response's encodedDataLength (headers and body as received, after
    gzip) up to the load event, and up to the moment the tiles are filled (the page's data calls included);
  - load time: navigation start to the load event, and to the tiles being filled (the first refresh done).
Prints one JSON object (median and max of each figure, and the files with their sizes from the first run)
and writes it to bench/results/dashboard-<time>.json. Not a test: speed lives here, never in assertions.

Usage: dashboard_load.py [N [ARGS...]]   (N default 10; LLMGW_BIN: the binary, default build/llmgw;
LLMGW_CHROMIUM: the browser, default /usr/bin/chromium). Target: under 150 KB on the wire."""
import http.client
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from playwright.sync_api import sync_playwright

from harness import free_port  # noqa: E402 - bench/ is on sys.path (run as a script)

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("LLMGW_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def start_dev(tmp: str, dev_args: list):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGW_")}
    env.update({"LLMGW_PORT": str(port), "LLMGW_DATABASE_URL": f"sqlite:{tmp}/bench.db"})
    binary = os.environ.get("LLMGW_BIN", str(ROOT / "build" / "llmgw"))
    proc = subprocess.Popen([binary, "dev", *dev_args], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(f"{tmp}/dev.log", "wb"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    sys.exit(f"llmgw dev did not get ready; see {tmp}/dev.log")


def seed(port: int) -> None:
    """A few answered requests, so the log, tiles and charts have something to draw."""
    for i, strategy in enumerate(["cost", "latency", "capability", "round-robin"] * 3):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = json.dumps({"model": "auto", "max_tokens": 64,
                           "messages": [{"role": "user", "content": f"seed request {i}"}]})
        conn.request("POST", "/v1/chat/completions", body,
                     {"Content-Type": "application/json", "x-llmgw-strategy": strategy})
        conn.getresponse().read()
    time.sleep(1.0)  # the ledger writes its batch


# The moment the first refresh has filled the tiles (main.js writes #updated last), recorded by the page
# itself, so the figure does not include the time taken to ask it.
FILLED = """
new MutationObserver((_, obs) => {
  const node = document.getElementById('updated');
  if (node && node.textContent) { window.__filled = performance.now(); obs.disconnect(); }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def one_load(browser, url: str) -> dict:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    cdp = ctx.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    urls, sizes = {}, {}
    cdp.on("Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))
    cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]))
    page.add_init_script(FILLED)
    page.goto(url, wait_until="load")
    at_load = dict(sizes)
    page.wait_for_function("() => window.__filled !== undefined")
    t = page.evaluate("() => ({load_ms: performance.getEntriesByType('navigation')[0].loadEventEnd,"
                      " filled_ms: window.__filled})")
    page.wait_for_timeout(300)  # the last loadingFinished events of the refresh
    files = {urls.get(k, k).replace(url.rstrip("/"), ""): v for k, v in sizes.items()}
    ctx.close()
    return {"load_ms": t["load_ms"], "filled_ms": t["filled_ms"], "bytes_at_load": sum(at_load.values()),
            "bytes_filled": sum(sizes.values()), "requests_at_load": len(at_load), "requests_filled": len(sizes),
            "files": files}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    dev_args = sys.argv[2:]
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_dev(tmp, dev_args)
        try:
            seed(port)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                one_load(browser, f"http://127.0.0.1:{port}/")  # warm-up: the process's first requests
                runs = [one_load(browser, f"http://127.0.0.1:{port}/") for _ in range(n)]
                version = browser.version
                browser.close()
        finally:
            proc.terminate()
            proc.wait()
    out = {"runs": n, "llmgw_dev_args": dev_args, "chromium": version, "files_first_run": runs[0]["files"]}
    for key in ("bytes_at_load", "bytes_filled", "requests_at_load", "requests_filled", "load_ms", "filled_ms"):
        values = [r[key] for r in runs]
        out[key] = {"median": round(statistics.median(values), 1), "max": round(max(values), 1)}
    text = json.dumps(out, indent=1)
    print(text)
    res = ROOT / "bench" / "results" / time.strftime("dashboard-%Y%m%dT%H%M%SZ.json", time.gmtime())
    res.write_text(text + "\n")


if __name__ == "__main__":
    main()
