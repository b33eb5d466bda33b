"""The built documentation site in a real browser: every page of ``site/``
loaded by headless Chromium from a local server, with no console error, no
failed request and no request leaving that server; the search box answering
a query; a screenshot of the getting-started page; and every public name of
every package in the API reference.

Why a browser: ``mkdocs build --strict`` checks the Markdown and the links it
can see, not what the pages do when loaded (a script that throws, an asset a
theme fetches from a CDN, a search index the web worker cannot read).

Why this driver: Debian's ``chromium`` package (installed with ``apt-get``
when ``/usr/bin/chromium`` is missing) driven over the Chrome DevTools
Protocol with ``websocket-client``, a small pure-Python package. Playwright
and Selenium's manager each want a browser build of their own, downloaded
from outside the package registries; chromedriver would be one more process
for what a few CDP calls do. Example::

    $ python -m tools.docs_check --site site --screenshot docs/img/site-getting-started.png
    42 pages: no console errors, no failed or non-local requests
    search 'reconcile': 20 results, first: Writing a controller
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
#: The packages whose ``__all__`` the API reference must cover, one page each
#: (``api/<last part>/``): the library's, then the applications'.
API_PACKAGES = (
    *("kubeloop.errors", "kubeloop.clock", "kubeloop.typed", "kubeloop.gen"),
    *("kubeloop.workqueue", "kubeloop.client", "kubeloop.cache", "kubeloop.events"),
    *("kubeloop.leaderelection", "kubeloop.metrics", "kubeloop.runtime", "kubeloop.testenv"),
    *("network_controller", "sample_controller"),
)
#: Schemes a page may use without a request to anywhere.
LOCAL_SCHEMES = ("data:", "blob:", "about:")


# -- what counts as a failure (pure, unit-tested) -------------------------------


@dataclass
class PageReport:
    """What went wrong while one page loaded."""

    url: str
    problems: list[str] = field(default_factory=list)


def is_local(url: str, origin: str) -> bool:
    """Whether a request stays on the local server (or needs no network)."""
    return url.startswith(LOCAL_SCHEMES) or url == origin or url.startswith(origin + "/")


def problems_in(event: dict[str, Any], origin: str) -> list[str]:
    """The failures one DevTools event reports: a console error, an uncaught
    exception, a request that is not local, a failed or >= 400 response."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        text = details.get("exception", {}).get("description") or details.get("text")
        return [f"uncaught exception: {text}"]
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        return [f"console.{params['type']}: {args}"]
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        entry = params["entry"]
        return [f"console error: {entry.get('text')} {entry.get('url', '')}".rstrip()]
    if method == "Network.requestWillBeSent":
        url = params.get("request", {}).get("url", "")
        return [] if is_local(url, origin) else [f"non-local request: {url}"]
    if method == "Network.loadingFailed" and not params.get("canceled"):
        return [f"request failed: {params.get('errorText')} ({params.get('type')})"]
    if method == "Network.responseReceived":
        response = params.get("response", {})
        if response.get("status", 200) >= 400:
            return [f"HTTP {response['status']}: {response.get('url')}"]
    return []


def site_pages(site: Path) -> list[str]:
    """Every page of the built site as a path from its root (``""`` for the
    home page, ``"getting-started/"``...): its ``index.html`` files outside
    ``assets/``."""
    pages = []
    for index in sorted(site.rglob("index.html")):
        relative = index.parent.relative_to(site).as_posix()
        if relative.split("/")[0] == "assets":
            continue
        pages.append("" if relative == "." else relative + "/")
    return sorted(pages)


def missing_api_names(site: Path) -> dict[str, list[str]]:
    """Per package, the names of its ``__all__`` without an anchor in its
    API page (``site/api/<package>/index.html``)."""
    missing: dict[str, list[str]] = {}
    for package in API_PACKAGES:
        module = importlib.import_module(package)
        page = site / "api" / package.rsplit(".", 1)[-1] / "index.html"
        html = page.read_text() if page.exists() else ""
        anchors = set(re.findall(rf'id="{re.escape(package)}\.([A-Za-z0-9_]+)"', html))
        absent = [name for name in module.__all__ if name not in anchors]
        if absent:
            missing[package] = absent
    return missing


#: A reST role the API reference would show as typed (tools/griffe_rst.py
#: rewrites them): ``:class:`` before a code span.
ROLE_LEFT = re.compile(r":(?:class|func|meth|mod|attr|exc|data|obj):(?=<code>|`)")


def leftover_roles(site: Path) -> dict[str, list[str]]:
    """Per API page, the reST roles left in its text."""
    left: dict[str, list[str]] = {}
    for page in sorted((site / "api").glob("*/index.html")):
        found = ROLE_LEFT.findall(page.read_text())
        if found:
            left[page.parent.name] = sorted(set(found))
    return left


# -- the browser ---------------------------------------------------------------


def ensure_chromium() -> str:
    """Debian's chromium, installed with apt-get if it is not there yet."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.geteuid() != 0:
        raise SystemExit(f"{CHROMIUM} is missing: run as root to apt-get install chromium")
    apt = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(apt, env=env, check=False).returncode != 0:
        # A machine whose package lists were never fetched knows no chromium.
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(apt, env=env, check=True)
    return CHROMIUM


class DevTools:
    """One page target over the DevTools protocol: commands answered in
    order, events collected while waiting for them."""

    def __init__(self, ws_url: str) -> None:
        import websocket  # the docs extra; imported here so the pure parts need nothing

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self._timeout = websocket.WebSocketTimeoutException
        self.events: list[dict[str, Any]] = []
        self._next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self.ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for_event(self, method: str, timeout: float) -> dict[str, Any]:
        """The next event named ``method`` (later events are kept)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {method} in {timeout}s")
            self.ws.settimeout(remaining)
            message: dict[str, Any] = json.loads(self.ws.recv())
            self.events.append(message)
            if message.get("method") == method:
                self.ws.settimeout(60)
                return message

    def settle(self, quiet: float = 1.0, timeout: float = 30.0) -> None:
        """Read events until none arrives for ``quiet`` seconds: the requests a
        page makes after its load event (the search worker and its index)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.settimeout(quiet)
            try:
                self.events.append(json.loads(self.ws.recv()))
            except self._timeout:
                break
        self.ws.settimeout(60)

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The value of ``expression``, a promise awaited."""
        result = self.call(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
            timeout=timeout * 1000,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        self.ws.close()


@contextmanager
def chromium(binary: str) -> Iterator[str]:
    """A headless Chromium; yields its DevTools HTTP endpoint."""
    profile = tempfile.mkdtemp(prefix="docs-check-")
    args = [
        binary,
        "--headless=new",
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={profile}",
        # Root has no user namespaces for the sandbox in a container.
        "--no-sandbox",
        *("--disable-gpu", "--no-first-run", "--no-default-browser-check"),
        *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
        "about:blank",
    ]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # the first lines name the endpoint
            match = re.search(r"DevTools listening on ws://([^/]+)/", line)
            if match:
                break
        else:
            raise SystemExit(f"chromium exited ({proc.wait()}) before DevTools listened")
        # Keep reading its stderr so that the browser never blocks on a full pipe.
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield f"http://{match.group(1)}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def new_page(endpoint: str) -> DevTools:
    request = urllib.request.Request(f"{endpoint}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        target = json.load(response)
    page = DevTools(target["webSocketDebuggerUrl"])
    for domain in ("Page", "Runtime", "Log", "Network"):
        page.call(f"{domain}.enable")
    page.call("Network.setCacheDisabled", cacheDisabled=True)
    page.call(
        "Emulation.setDeviceMetricsOverride",
        width=1280,
        height=900,
        deviceScaleFactor=1,
        mobile=False,
    )
    return page


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """``site`` on 127.0.0.1, a free port; yields the origin."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="docs-check-http")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def load(page: DevTools, url: str, origin: str) -> PageReport:
    page.events.clear()
    page.call("Page.navigate", url=url)
    page.wait_for_event("Page.loadEventFired", 30)
    page.settle()
    report = PageReport(url)
    for event in page.events:
        report.problems += problems_in(event, origin)
    return report


#: Clicks the search box (Material opens its search panel).
FOCUS_SEARCH = """
(() => {
  const input = document.querySelector("input.md-search__input");
  if (!input) { return false; }
  input.click(); input.focus();
  return document.activeElement === input;
})()
"""

#: Resolves with the titles of the search results once Material's worker has
#: answered (a MutationObserver, no polling), or with [] after 20 s.
SEARCH_RESULTS = """
new Promise(resolve => {
  const titles = () => [...document.querySelectorAll(
    ".md-search-result__item h1, .md-search-result__item h2")].map(h => h.textContent.trim());
  const done = () => { const t = titles(); if (t.length) { observer.disconnect(); resolve(t); } };
  const observer = new MutationObserver(done);
  observer.observe(document.body, {subtree: true, childList: true, characterData: true});
  done();
  setTimeout(() => { observer.disconnect(); resolve([]); }, 20000);
})
"""


def search(page: DevTools, query: str) -> list[str]:
    """Types ``query`` into the search box as keystrokes would, and returns
    the titles of the results."""
    if not page.evaluate(FOCUS_SEARCH):
        raise RuntimeError("no search box to type into")
    page.call("Input.insertText", text=query)
    titles: list[str] = page.evaluate(SEARCH_RESULTS, timeout=30)
    return titles


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--site", default="site", type=Path, help="the built site (make docs)")
    ap.add_argument("--screenshot", type=Path, help="PNG of the getting-started page")
    ap.add_argument("--query", default="reconcile", help="what to search for")
    args = ap.parse_args(argv)
    site: Path = args.site
    if not (site / "index.html").exists():
        print(f"{site}/index.html is missing: run make docs first", file=sys.stderr)
        return 2
    failures: list[str] = []
    missing = missing_api_names(site)
    for package, names in missing.items():
        failures.append(f"api/{package}: no entry for {', '.join(names)}")
    for package, roles in leftover_roles(site).items():
        failures.append(f"api/{package}: reST roles shown as typed: {', '.join(roles)}")
    pages = site_pages(site)
    binary = ensure_chromium()
    with serve(site) as origin, chromium(binary) as endpoint:
        page = new_page(endpoint)
        try:
            for path in pages:
                report = load(page, f"{origin}/{path}", origin)
                failures += [f"/{path}: {problem}" for problem in report.problems]
            load(page, f"{origin}/getting-started/", origin)
            if args.screenshot:
                shot = page.call("Page.captureScreenshot", format="png")
                args.screenshot.write_bytes(base64.b64decode(shot["data"]))
                print(f"screenshot: {args.screenshot}")
            titles = search(page, args.query)
            page.settle()
            failures += [f"search: {p}" for e in page.events for p in problems_in(e, origin)]
        finally:
            page.close()
    print(f"{len(pages)} pages loaded from {origin}")
    print(
        f"api reference: every name of {len(API_PACKAGES)} packages' __all__ has an entry"
        if not missing
        else "api reference: names missing (below)"
    )
    if titles:
        print(f"search {args.query!r}: {len(titles)} results, first: {titles[0]}")
    else:
        failures.append(f"search {args.query!r}: no results in 20 s")
    if failures:
        print(f"{len(failures)} problems:", *failures, sep="\n  ", file=sys.stderr)
        return 1
    print("no console errors, no failed or non-local requests")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
