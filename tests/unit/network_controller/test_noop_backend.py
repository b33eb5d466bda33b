"""The benchmarks' ``--backend noop`` and ``--no-api-writes``."""

from __future__ import annotations

from network_controller.__main__ import make_backend, parse_args
from network_controller.backend import DesiredNetwork
from network_controller.noop_backend import NoopBackend


def test_the_noop_backend_keeps_networks_in_memory_and_updates_keep_their_id() -> None:
    backend = NoopBackend()
    created = backend.create(DesiredNetwork("ns/a", "10.0.0.0/24", "10.0.0.1", "u1"))
    assert backend.get("ns/a") == created
    updated = backend.update(DesiredNetwork("ns/a", "10.0.0.0/24", "10.0.0.2", "u1"))
    assert (updated.id, updated.gateway) == (created.id, "10.0.0.2")
    assert backend.list() == [updated]
    backend.delete("ns/a")
    assert backend.get("ns/a") is None and backend.list() == []


def test_backend_noop_and_no_api_writes_are_off_unless_asked_for() -> None:
    defaults = parse_args([])
    assert (defaults.backend, defaults.no_api_writes) == ("mock", False)
    args = parse_args(["--backend", "noop", "--no-api-writes"])
    assert args.no_api_writes
    assert isinstance(make_backend(args), NoopBackend)
