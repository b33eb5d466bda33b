"""tools/docs_check.py's judgement of what a page did, without a browser:
which DevTools events are failures, which requests are local, which files
are pages, and an API page that misses a public name."""

from __future__ import annotations

from pathlib import Path

from tools.docs_check import (
    is_local,
    leftover_roles,
    missing_api_names,
    problems_in,
    site_pages,
)

ORIGIN = "http://127.0.0.1:8123"


def event(method: str, **params: object) -> dict[str, object]:
    return {"method": method, "params": params}


def test_only_the_local_server_and_schemes_without_network_are_local() -> None:
    assert is_local(f"{ORIGIN}/assets/javascripts/bundle.js", ORIGIN)
    assert is_local(ORIGIN, ORIGIN)
    assert is_local("data:image/svg+xml,<svg/>", ORIGIN)
    assert is_local("blob:http://127.0.0.1:8123/1234", ORIGIN)
    assert not is_local("https://unpkg.com/mermaid/dist/mermaid.min.js", ORIGIN)
    assert not is_local("http://127.0.0.1:81234/x", ORIGIN)  # another port, same prefix
    assert not is_local("http://127.0.0.1:8123.evil.example/x", ORIGIN)


def test_a_request_elsewhere_is_a_problem_and_a_local_one_is_not() -> None:
    local = event("Network.requestWillBeSent", request={"url": f"{ORIGIN}/search/"})
    remote = event("Network.requestWillBeSent", request={"url": "https://fonts.gstatic.com/a"})
    assert problems_in(local, ORIGIN) == []
    assert problems_in(remote, ORIGIN) == ["non-local request: https://fonts.gstatic.com/a"]


def test_console_errors_exceptions_and_failed_loads_are_problems() -> None:
    error = event("Runtime.consoleAPICalled", type="error", args=[{"value": "boom"}])
    log = event("Runtime.consoleAPICalled", type="log", args=[{"value": "fine"}])
    thrown = event(
        "Runtime.exceptionThrown",
        exceptionDetails={"text": "Uncaught", "exception": {"description": "Error: x"}},
    )
    missing = event("Network.responseReceived", response={"status": 404, "url": f"{ORIGIN}/a.png"})
    ok = event("Network.responseReceived", response={"status": 200, "url": f"{ORIGIN}/"})
    failed = event("Network.loadingFailed", errorText="net::ERR_FAILED", type="Image")
    cancelled = event("Network.loadingFailed", errorText="net::ERR_ABORTED", canceled=True)
    logged = event("Log.entryAdded", entry={"level": "error", "text": "Failed to load", "url": "u"})
    assert problems_in(error, ORIGIN) == ["console.error: boom"]
    assert problems_in(log, ORIGIN) == []
    assert problems_in(thrown, ORIGIN) == ["uncaught exception: Error: x"]
    assert problems_in(missing, ORIGIN) == [f"HTTP 404: {ORIGIN}/a.png"]
    assert problems_in(ok, ORIGIN) == []
    assert problems_in(failed, ORIGIN) == ["request failed: net::ERR_FAILED (Image)"]
    assert problems_in(cancelled, ORIGIN) == []
    assert problems_in(logged, ORIGIN) == ["console error: Failed to load u"]


def test_pages_are_the_index_files_outside_assets(tmp_path: Path) -> None:
    for page in ("index.html", "concepts/index.html", "api/runtime/index.html"):
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / page).write_text("<html></html>")
    (tmp_path / "assets" / "x").mkdir(parents=True)
    (tmp_path / "assets" / "x" / "index.html").write_text("")
    (tmp_path / "404.html").write_text("")
    assert site_pages(tmp_path) == ["", "api/runtime/", "concepts/"]


def test_an_api_page_without_a_public_name_is_reported(tmp_path: Path) -> None:
    import kubeloop.clock

    page = tmp_path / "api" / "clock" / "index.html"
    page.parent.mkdir(parents=True)
    present = kubeloop.clock.__all__[1:]
    page.write_text("".join(f'<h2 id="kubeloop.clock.{name}"></h2>' for name in present))
    missing = missing_api_names(tmp_path)
    assert missing["kubeloop.clock"] == [kubeloop.clock.__all__[0]]
    assert "kubeloop.runtime" in missing  # no page at all: every name is missing


def test_a_rest_role_left_in_an_api_page_is_reported(tmp_path: Path) -> None:
    page = tmp_path / "api" / "runtime" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text("<p>See <code>Manager</code>, and :class:<code>Result</code>.</p>")
    (tmp_path / "api" / "clock").mkdir()
    (tmp_path / "api" / "clock" / "index.html").write_text("<p>See <code>Clock</code>.</p>")
    assert leftover_roles(tmp_path) == {"runtime": [":class:"]}
