"""The credential built from a Config: static and file tokens, basic auth,
and what a 401 refreshes. (The one retry after a 401: test_rest.py; exec
plugins: test_exec.py.)"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kubeloop.client._auth import (
    Authenticator,
    BasicAuth,
    BearerTokenAuth,
    FileTokenSource,
    TokenSourceAuth,
    build_auth,
)
from kubeloop.client._config import Config
from kubeloop.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _header(auth: Authenticator | None) -> str | None:
    assert auth is not None
    return auth.authorization()


def test_no_credentials_no_auth() -> None:
    assert build_auth(Config(host="https://api")) is None


def test_static_bearer_token() -> None:
    auth = build_auth(Config(host="https://api", bearer_token="abc"))
    assert isinstance(auth, BearerTokenAuth)
    assert _header(auth) == "Bearer abc"


def test_basic_auth() -> None:
    auth = build_auth(Config(host="https://api", username="admin", password="s3cret"))
    assert isinstance(auth, BasicAuth)
    assert _header(auth) == "Basic YWRtaW46czNjcmV0"
    assert auth.refresh("Basic YWRtaW46czNjcmV0") is None  # the same would be refused


def test_token_and_basic_auth_together_are_refused() -> None:
    config = Config(host="https://api", bearer_token="t", username="u", source="kubeconfig x")
    with pytest.raises(ConfigError, match="kubeconfig x: username/password or bearer token"):
        build_auth(config)


# -- token files -------------------------------------------------------------


def _source_after_first_read(tmp_path: Path) -> tuple[Path, Clock, FileTokenSource]:
    """A token file holding "one", and a source that has read it."""
    path, clock = tmp_path / "token", Clock()
    path.write_text("one\n")
    source = FileTokenSource(path, clock=clock)
    assert source.token() == "one"
    return path, clock, source


def test_token_file_is_reread_at_most_every_minute(tmp_path: Path) -> None:
    path, clock, source = _source_after_first_read(tmp_path)
    path.write_text("two")
    clock.now += 59
    assert not source.needs_refresh()
    assert source.token() == "one"
    clock.now += 1
    assert source.needs_refresh()
    assert source.token() == "two"


def test_invalidate_rereads_the_token_file_now(tmp_path: Path) -> None:
    path, _, source = _source_after_first_read(tmp_path)
    path.write_text("two")
    source.invalidate("stale-token")  # not the current one: nothing happens
    assert source.token() == "one"
    source.invalidate("one")
    assert source.token() == "two"


def test_unreadable_token_file_keeps_the_last_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, clock, source = _source_after_first_read(tmp_path)
    path.write_text("   \n")
    clock.now += 60
    with caplog.at_level(logging.WARNING, logger="kubeloop.client"):
        assert source.token() == "one"
    assert "cannot re-read (the file is empty); keeping the last token" in caplog.text
    path.unlink()
    clock.now += 60
    assert source.token() == "one"


def test_first_read_of_a_missing_token_file_fails(tmp_path: Path) -> None:
    source = FileTokenSource(tmp_path / "token")
    with pytest.raises(ConfigError, match=r"token file .*/token: cannot read: \[Errno 2\]"):
        source.token()
    # The token the config was loaded with stands in for a previous read.
    assert FileTokenSource(tmp_path / "token", fallback="loaded").token() == "loaded"


def test_token_file_is_used_over_the_loaded_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("rotated")
    config = Config(
        host="https://api", bearer_token="old", bearer_token_file=str(tmp_path / "token")
    )
    assert _header(build_auth(config)) == "Bearer rotated"


def test_unauthorized_rereads_a_rotated_token_file(tmp_path: Path) -> None:
    path, _, source = _source_after_first_read(tmp_path)
    path.write_text("two")  # rotated within the minute: "one" is still cached
    auth = TokenSourceAuth(source)
    assert auth.authorization() == "Bearer one"
    assert auth.refresh("Bearer one") == "Bearer two"
    assert auth.authorization() == "Bearer two"


def test_unauthorized_with_an_unchanged_token_file_is_not_retried(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("old")
    auth = TokenSourceAuth(FileTokenSource(path, clock=Clock()))
    assert auth.authorization() == "Bearer old"
    assert auth.refresh("Bearer old") is None
