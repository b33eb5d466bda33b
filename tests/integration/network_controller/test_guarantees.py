"""The Network controller's guarantees (issue 6, 1-6) on the real API server.

The controller runs as users run it (``python -m network_controller`` in its
own process), scoped with ``--namespace`` to the test's namespace and with a
state dir of its own, so the tests cannot see each other's networks. Waits
are on conditions: the controller's log lines, the server's state
(``wait_until`` polling a GET) or the mock backend's state file, which is
the actual state the controller drives.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from tools.e2e.process import ControllerProcess

from kubeloop.client import Client, ResourceClient, load_config
from kubeloop.errors import is_not_found
from kubeloop.testenv import ControlPlane, FaultProxy, proxied_kubeconfig
from network_controller.deployments import CIDR_ANNOTATION, GATEWAY_ANNOTATION
from tests.integration.support import (
    NETWORK_CRD,
    deployment,
    ensure_crd,
    network,
    wait_until,
)

pytestmark = pytest.mark.integration

RESYNC = 2.0  # --resync for the tests that wait for a sweep
StartController = Callable[..., ControllerProcess]


# -- the mock backend's files --------------------------------------------------
def read_state(state_dir: Path) -> dict[str, dict[str, Any]]:
    try:
        state: dict[str, dict[str, Any]] = json.loads((state_dir / "networks.json").read_text())
    except FileNotFoundError:
        return {}
    return state


def write_state(state_dir: Path, state: dict[str, dict[str, Any]]) -> None:
    """An out-of-band edit, written as the backend writes (temp file renamed
    over the old one), so the controller never reads half a file."""
    tmp = state_dir / "networks.json.edit"
    tmp.write_text(json.dumps(state))
    os.replace(tmp, state_dir / "networks.json")


def operations(state_dir: Path) -> list[dict[str, Any]]:
    try:
        lines = (state_dir / "operations.log").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines]


# -- the controller's log --------------------------------------------------------
def klog_time(line: str) -> float:
    """Seconds since the epoch of a klog line (``E1126 17:43:29.163173 ...``)."""
    stamp = datetime.strptime(f"{datetime.now().year}{line[1:21]}", "%Y%m%d %H:%M:%S.%f")
    return stamp.timestamp()


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def containing(*texts: str) -> Callable[[str], bool]:
    return lambda line: all(text in line for text in texts)


# -- server state ---------------------------------------------------------------
def ready_condition(obj: dict[str, Any]) -> dict[str, Any]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), {})


def wait_ready(networks: ResourceClient, name: str, status: str = "True") -> dict[str, Any]:
    """Wait until the Network's Ready condition has ``status`` for its
    current generation, and return the Network."""
    got: dict[str, Any] = {}

    def ready() -> bool:
        got.update(networks.get(name))
        cond = ready_condition(got)
        generation = got["metadata"]["generation"]
        return bool(cond.get("status") == status and cond.get("observedGeneration") == generation)

    wait_until(ready, 30, f"Network {name} Ready={status}")
    return got


def gone(resource: ResourceClient, name: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            resource.get(name)
        except Exception as err:
            if is_not_found(err):
                return True
            raise
        return False

    return check


def events_for(client: Client, namespace: str, name: str, reason: str) -> list[dict[str, Any]]:
    events = client.resource("v1", "events", namespace=namespace, namespaced=True)
    page = events.list(field_selector=f"involvedObject.name={name}")
    return [e for e in page.items if e.get("reason") == reason]


STARTED_WORKERS = '"Starting workers" controller="networks"'


def failed_sync(key: str) -> tuple[str, str]:
    """What the runtime's "Reconciler error" line for ``key`` holds."""
    namespace, name = key.split("/")
    return '"Reconciler error" controller="networks"', f'namespace="{namespace}" name="{name}"'


def _failure_count(key: str, line: str) -> re.Match[str] | None:
    """The failure count (requeues so far) in a "Reconciler error" line for ``key``."""
    if not all(text in line for text in failed_sync(key)):
        return None
    return re.search(r" requeues=(\d+)", line)


# -- fixtures ---------------------------------------------------------------------
@pytest.fixture
def networks(client: Client, network_crd: str, namespace: str) -> ResourceClient:
    return client.resource(network_crd, "networks", namespace=namespace, namespaced=True)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


@pytest.fixture
def start_controller(
    kubeconfig: str, namespace: str, network_crd: str, state_dir: Path
) -> Iterator[StartController]:
    """Start the controller process scoped to the test's namespace and wait
    until its workers run; every process is killed after the test."""
    started: list[ControllerProcess] = []

    def start(*args: str) -> ControllerProcess:
        proc = ControllerProcess(kubeconfig, str(state_dir), ["--namespace", namespace, *args])
        started.append(proc)
        proc.start()
        proc.wait_for(containing(STARTED_WORKERS), 0)
        return proc

    yield start
    for proc in started:
        proc.kill()


# -- 1. no orphaned actual network ---------------------------------------------------
def test_networks_without_a_network_object_are_removed_from_the_backend_after_restart(
    start_controller: StartController,
    networks: ResourceClient,
    namespace: str,
    state_dir: Path,
) -> None:
    keep, deleted, ghost = (f"{namespace}/{n}" for n in ("keep", "deleted", "ghost"))
    controller = start_controller("--resync", f"{RESYNC}s")
    networks.create(network("keep", "10.1.0.0/24", "10.1.0.1"))
    networks.create(network("deleted", "10.2.0.0/24", "10.2.0.1"))
    wait_ready(networks, "keep")
    wait_ready(networks, "deleted")
    assert set(read_state(state_dir)) == {keep, deleted}
    keep_id = read_state(state_dir)[keep]["id"]
    assert controller.terminate() == 0

    # While the controller is down: a Network is deleted, an actual network
    # appears that no Network ever asked for, and another namespace's
    # controller (sharing the backend) owns one this controller must not touch.
    networks.delete("deleted")
    wait_until(gone(networks, "deleted"), 30, "Network deleted to be gone")
    state = read_state(state_dir)
    state[ghost] = {"id": "ghost-id", "cidr": "10.3.0.0/24", "gateway": "10.3.0.1", "uid": ""}
    state["elsewhere/theirs"] = {"id": "x", "cidr": "10.4.0.0/24", "gateway": "10.4.0.1"}
    write_state(state_dir, state)

    controller = start_controller("--resync", f"{RESYNC}s")
    controller.wait_for(containing(f"backend sweep: '{deleted}' is orphaned"), 0)
    controller.wait_for(containing(f"[Neutron] Deleting network {deleted}"), 0)
    controller.wait_for(containing(f"[Neutron] Deleting network {ghost}"), 0)
    wait_until(
        lambda: set(read_state(state_dir)) == {keep, "elsewhere/theirs"}, 10, "orphans removed"
    )

    # A later periodic sweep (proven by the orphan it removes) still leaves
    # the other namespace's network and the live one alone.
    mark = controller.mark()
    later = f"{namespace}/later-ghost"
    write_state(state_dir, {**read_state(state_dir), later: {"id": "y", "cidr": "10.5.0.0/24"}})
    controller.wait_for(containing(f"[Neutron] Deleting network {later}"), mark, 60)

    def deleted_keys() -> list[str]:
        # The backend renames the state file, then logs the operation.
        return sorted(op["key"] for op in operations(state_dir) if op["op"] == "delete")

    wait_until(lambda: later in deleted_keys(), 10, "the later orphan's delete logged")
    assert deleted_keys() == sorted([deleted, ghost, later])
    final = read_state(state_dir)
    assert set(final) == {keep, "elsewhere/theirs"}
    assert final[keep]["id"] == keep_id  # the live network was never recreated
    assert controller.terminate() == 0


# -- 2. drift repair -----------------------------------------------------------------
def test_backend_drift_is_repaired_by_the_next_backend_sweep_without_a_network_change(
    start_controller: StartController,
    networks: ResourceClient,
    namespace: str,
    state_dir: Path,
) -> None:
    removed, changed = f"{namespace}/removed", f"{namespace}/changed"
    # -v 4 logs the start of every sweep ("backend sweep: starting").
    controller = start_controller("--resync", f"{RESYNC}s", "-v", "4")
    networks.create(network("removed", "10.6.0.0/24", "10.6.0.1"))
    networks.create(network("changed", "10.7.0.0/24", "10.7.0.1"))
    before = {name: wait_ready(networks, name) for name in ("removed", "changed")}
    # The controller's own status write comes back as a watch event and is
    # reconciled once more. That reconcile must be over before the drift is
    # written, or it, not the sweep, repairs the drift (seen on a loaded
    # machine, where the event came 2 s after the test saw Ready).
    for key in (removed, changed):
        controller.wait_for_lines(
            lambda line, key=key: f"Successfully synced '{key}'" in line, 0, 2
        )
    want = {key: dict(read_state(state_dir)[key]) for key in (removed, changed)}

    mark = controller.mark()
    state = read_state(state_dir)
    del state[removed]
    state[changed] = {**state[changed], "cidr": "10.7.0.0/25", "gateway": "10.7.0.99"}
    writing_at = time.time()
    write_state(state_dir, state)
    written_at = time.time()

    def repairs() -> list[dict[str, Any]]:
        # Logged after the state file is renamed: once both are logged, both are done.
        return [op for op in operations(state_dir) if op["t"] >= writing_at]

    wait_until(lambda: len(repairs()) >= 2, 60, "drift repaired")
    assert sorted((op["op"], op["key"]) for op in repairs()) == [
        ("create", removed),
        ("update", changed),
    ]
    now = read_state(state_dir)
    for key, w in want.items():
        assert (now[key]["cidr"], now[key]["gateway"]) == (w["cidr"], w["gateway"])
    assert read_state(state_dir)[changed]["id"] == want[changed]["id"]  # repaired in place
    found = controller.since(mark)
    # The next sweep found both: no sweep that started after the drift was
    # written (so read it) ended without flagging it. An order of log lines
    # and timestamps, not a stopwatch: a slow machine sweeps later, not wrongly.
    for key in (removed, changed):
        flagged = next(
            (i for i, line in enumerate(found) if f"backend sweep: '{key}' is out of sync" in line),
            None,
        )
        assert flagged is not None, f"no sweep flagged {key}:\n" + "\n".join(found)
        sweeps_that_saw_it = [
            line
            for line in found[:flagged]
            if "backend sweep: starting" in line and klog_time(line) > written_at
        ]
        assert len(sweeps_that_saw_it) <= 1, (
            f"{key} was flagged only after {len(sweeps_that_saw_it)} sweeps read the drift",
            sweeps_that_saw_it,
        )

    # The Networks themselves did not change; status follows the new id.
    new_id = read_state(state_dir)[removed]["id"]
    wait_until(
        lambda: networks.get("removed")["status"].get("networkID") == new_id, 10, "status id"
    )
    for name, old in before.items():
        now = networks.get(name)
        assert now["metadata"]["generation"] == old["metadata"]["generation"]
        assert now["spec"] == old["spec"]
        assert ready_condition(now)["status"] == "True"


# -- 3. failures ---------------------------------------------------------------------
def test_a_failing_backend_call_backs_off_reports_and_lets_other_keys_through(
    start_controller: StartController,
    networks: ResourceClient,
    client: Client,
    namespace: str,
    state_dir: Path,
) -> None:
    down, up = f"{namespace}/down", f"{namespace}/up"
    (state_dir / "fail-keys").write_text(down + "\n")  # the backend is down for one key
    # A long resync: no sweep re-adds the failing key while the test runs, so
    # every attempt is one the workqueue's backoff let through, or one an
    # event of the key's own (logged at -v 4: "Enqueued ...") asked for.
    controller = start_controller("--resync", "300s", "-v", "4")
    mark = controller.mark()
    networks.create(network("down", "10.8.0.0/24", "10.8.0.1"))
    first = controller.wait_for(containing(*failed_sync(down)), mark)

    failed = wait_ready(networks, "down", status="False")
    assert ready_condition(failed)["reason"] == "BackendError"
    assert f"{down} is unavailable" in ready_condition(failed)["message"]

    # Other keys keep flowing while "down" backs off.
    networks.create(network("up", "10.9.0.0/24", "10.9.0.1"))
    wait_ready(networks, "up")
    assert up in read_state(state_dir)
    assert ready_condition(networks.get("down"))["status"] == "False"

    # No hot loop: count the attempts in the first 5 s after the first one.
    # The per-item backoff (5 ms doubling) allows 10 (at 0, 5 ms, 15 ms, ...
    # 1.275 s, 2.555 s; the 11th at 5.115 s); a hot loop would make thousands.
    # A slow machine makes fewer, never more.
    window = 5.0
    start = klog_time(first)
    controller.wait_for(
        lambda line: bool(_failure_count(down, line)) and klog_time(line) >= start + window,
        mark,
        window + 60,
    )
    failures = 11
    controller.wait_for(containing(*failed_sync(down), f" requeues={failures}"), mark, 120)
    log = controller.since(mark)
    attempts = [klog_time(line) for line in log if f"[Neutron] Creating network {down} " in line]
    timeline = [round(t - start, 3) for t in attempts]
    in_window = [t for t in attempts if t < start + window]
    assert len(in_window) <= 12, timeline  # +1: the status write's update event
    # Every failure counts: the key is never forgotten while it fails, so
    # its backoff keeps growing.
    counted = [int(m.group(1)) for line in log if (m := _failure_count(down, line))]
    assert counted[:failures] == list(range(1, failures + 1)), counted

    # ... and its retries back off exponentially: 5 ms * 2**i after failure i
    # (from 0), as lower bounds, which a slow machine only widens. An attempt
    # starts from a direct add or from a backoff timer, one attempt per add
    # or timer at most. The direct adds are the key's own informer events
    # ("Enqueued", logged just before each add), from its creation and the
    # status writes of its first failures; nothing re-adds it later (no
    # sweep, no event once the status stopped changing). So at most `direct`
    # attempts are not a timer's, none after attempt j+1 (j: the attempts
    # begun before the last "Enqueued" line). Only one timer waits at a time
    # (a newer backoff keeps the earlier one), so each timer comes from a
    # later failure than the one before: the m-th timer from failure m-1 or
    # later. Attempt a > j+1 is at least the (a+1-direct)-th timer's, so it
    # came at least the backoff of failure a-direct after that failure's
    # attempt began.
    assert not any(f"backend sweep: '{down}'" in line for line in log)
    adds = [i for i, line in enumerate(log) if f"Enqueued '{down}'" in line]
    direct = len(adds)
    j = sum(f"[Neutron] Creating network {down} " in line for line in log[: adds[-1]])
    checked = range(max(j + 2, direct), failures)
    assert len(checked) >= 3, f"{down} was still re-added by events at attempt {j}: {direct} adds"
    for a in checked:
        i = a - direct
        waited = attempts[a] - attempts[i]
        assert waited >= 0.005 * 2**i, (f"attempt {a} came {waited:.3f}s after {i}", timeline)

    # One Warning event with a series, not one event per attempt. The first
    # repeat patches series.count 2; later repeats are counted in memory and
    # written at the next 30-minute refresh or once quiet for 6 minutes
    # (client-go's tools/events), so the server shows 2 while this test runs.
    def warned() -> bool:
        found = events_for(client, namespace, "down", "SyncFailed")
        return len(found) == 1 and (found[0].get("series") or {}).get("count", 0) >= 2

    wait_until(warned, 10, "one SyncFailed event with a series")
    event = events_for(client, namespace, "down", "SyncFailed")[0]
    assert event["type"] == "Warning"
    assert event["series"]["count"] <= len(attempts) + 1

    # The outage ends: the next retry (within the current backoff) succeeds.
    (state_dir / "fail-keys").write_text("")
    healed = wait_ready(networks, "down")
    assert ready_condition(healed)["reason"] == "Synced"
    assert healed["status"]["networkID"] == read_state(state_dir)[down]["id"]
    created = [op["key"] for op in operations(state_dir) if op["op"] == "create"]
    assert sorted(created) == sorted([down, up])


def test_random_backend_failures_are_retried_until_every_network_is_ready(
    start_controller: StartController,
    networks: ResourceClient,
    namespace: str,
    state_dir: Path,
) -> None:
    names = [f"flaky-{i}" for i in range(16)]
    controller = start_controller("--resync", f"{RESYNC}s", "--backend-fail-rate", "0.5")
    mark = controller.mark()
    for i, name in enumerate(names):
        networks.create(network(name, f"10.20.{i}.0/24", f"10.20.{i}.1"))
    for name in names:
        wait_ready(networks, name)
    # 16 networks at a 50 % failure rate: all succeeding first time is a 2**-16 chance.
    assert any("injected failure" in line for line in controller.since(mark))
    state = read_state(state_dir)
    assert set(state) == {f"{namespace}/{name}" for name in names}
    # A failed create changes nothing, so each network was created exactly once.
    created = [op["key"] for op in operations(state_dir) if op["op"] == "create"]
    assert len(created) == len(set(created)) == len(names)
    assert controller.terminate() == 0


# -- 4. start before the CRD exists ------------------------------------------------
def test_started_before_the_crd_exists_the_list_is_retried_with_backoff_until_it_recovers(
    tmp_path: Path,
) -> None:
    # Its own control plane: the session's has the CRD installed for good.
    with ControlPlane(tmp_path / "cluster") as cp:
        state_dir = tmp_path / "state"
        controller = ControllerProcess(
            str(cp.kubeconfig), str(state_dir), ["--namespace", "default", "--resync", "2s"]
        )
        controller.start()
        try:
            failed_list = containing("failed to list", "networks")
            failures = [klog_time(line) for line in controller.wait_for_lines(failed_list, 0, 3)]
            # The reflector backs off 0.8 s doubling, with jitter on top: the
            # second and third attempts come >= 0.8 s and >= 1.6 s later.
            first, second = gaps(failures)
            assert first >= 0.75 and second >= 1.5, (first, second)
            assert not any(STARTED_WORKERS in line for line in controller.since(0))

            mark = controller.mark()
            with Client(load_config(kubeconfig=str(cp.kubeconfig))) as client:
                ensure_crd(client, yaml.safe_load(NETWORK_CRD.read_text()))
                controller.wait_for(containing(STARTED_WORKERS), mark)
                networks = client.resource(
                    "samplecrd.k8s.io/v1", "networks", namespace="default", namespaced=True
                )
                networks.create(network("late"))
                wait_ready(networks, "late")
            assert "default/late" in read_state(state_dir)
            assert controller.terminate() == 0
        finally:
            controller.kill()


# -- 5. SIGTERM ------------------------------------------------------------------------
def test_sigterm_finishes_the_item_in_flight_starts_no_other_and_exits_zero(
    start_controller: StartController,
    networks: ResourceClient,
    namespace: str,
    state_dir: Path,
) -> None:
    names = ["s1", "s2", "s3"]
    # One worker and a 3 s backend call: one item in flight, the others queued.
    controller = start_controller(
        "--workers", "1", "--backend-delay", "3s", "--resync", "60s", "-v", "4"
    )
    mark = controller.mark()
    for i, name in enumerate(names):
        networks.create(network(name, f"10.30.{i}.0/24", f"10.30.{i}.1"))
    for name in names:
        controller.wait_for(containing(f"Enqueued '{namespace}/{name}'"), mark)
    creating = controller.wait_for(containing("[Neutron] Creating network"), mark)
    in_flight = creating.rsplit("Creating network ", 1)[1].split()[0]
    assert operations(state_dir) == []  # still inside the slow call

    signalled_at = time.time()
    stop_mark = controller.mark()
    assert controller.terminate() == 0
    after = controller.since(stop_mark)

    # The item in flight finished: backend op recorded after SIGTERM, status written.
    ops = operations(state_dir)
    assert [(op["op"], op["key"]) for op in ops] == [("create", in_flight)]
    assert ops[0]["t"] > signalled_at
    assert any(f"Successfully synced '{in_flight}'" in line for line in after)
    name = in_flight.split("/", 1)[1]
    assert ready_condition(networks.get(name))["status"] == "True"
    # The queued ones were never started.
    assert [line for line in controller.since(mark) if "[Neutron] Creating" in line] == [creating]
    for other in set(names) - {name}:
        assert "status" not in networks.get(other)
    assert set(read_state(state_dir)) == {in_flight}
    assert any("Shut down cleanly" in line for line in after)


# -- 6. Deployments -> Networks --------------------------------------------------------
def test_an_annotated_deployment_owns_a_network_that_follows_its_annotation(
    start_controller: StartController,
    networks: ResourceClient,
    client: Client,
    namespace: str,
    state_dir: Path,
) -> None:
    deployments = client.resource("apps/v1", "deployments", namespace=namespace, namespaced=True)
    web_key = f"{namespace}/web"
    controller = start_controller("--resync", f"{RESYNC}s")

    web = deployments.create(deployment("web", annotations={CIDR_ANNOTATION: "10.9.0.0/16"}))
    wait_until(lambda: not gone(networks, "web")(), 30, "Network web created")
    net = wait_ready(networks, "web")
    assert net["spec"] == {"cidr": "10.9.0.0/16", "gateway": "10.9.0.1"}
    [owner] = net["metadata"]["ownerReferences"]
    assert owner["apiVersion"] == "apps/v1"
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "Deployment",
        "web",
        web["metadata"]["uid"],
    )
    assert owner["controller"] is True
    actual = read_state(state_dir)[web_key]
    assert (actual["cidr"], actual["gateway"]) == ("10.9.0.0/16", "10.9.0.1")

    # The annotation changes: the Network follows, and so does the backend.
    deployments.patch("web", {"metadata": {"annotations": {CIDR_ANNOTATION: "10.10.0.0/16"}}})
    wait_until(
        lambda: networks.get("web")["spec"] == {"cidr": "10.10.0.0/16", "gateway": "10.10.0.1"},
        30,
        "Network web updated",
    )
    wait_ready(networks, "web")
    assert read_state(state_dir)[web_key]["gateway"] == "10.10.0.1"
    assert read_state(state_dir)[web_key]["id"] == actual["id"]

    # Invalid annotations: a Warning event on the Deployment, nothing else.
    deployments.create(deployment("broken", annotations={CIDR_ANNOTATION: "10.9.0.0/33"}))
    deployments.patch("web", {"metadata": {"annotations": {GATEWAY_ANNOTATION: "10.99.0.1"}}})
    wait_until(
        lambda: bool(events_for(client, namespace, "broken", "InvalidNetworkAnnotation")),
        30,
        "a Warning event for the bad CIDR",
    )
    wait_until(
        lambda: bool(events_for(client, namespace, "web", "InvalidNetworkAnnotation")),
        30,
        "a Warning event for the gateway outside the CIDR",
    )
    [bad_cidr] = events_for(client, namespace, "broken", "InvalidNetworkAnnotation")
    assert bad_cidr["type"] == "Warning" and "is not a CIDR" in bad_cidr["message"]
    [bad_gateway] = events_for(client, namespace, "web", "InvalidNetworkAnnotation")
    assert "10.99.0.1 is not inside 10.10.0.0/16" in bad_gateway["message"]
    assert gone(networks, "broken")()
    assert networks.get("web")["spec"] == {"cidr": "10.10.0.0/16", "gateway": "10.10.0.1"}
    assert controller.running
    assert not any("Traceback" in line for line in controller.since(0))

    # The annotation is removed: the Network and its actual network go.
    deployments.patch(
        "web",
        {"metadata": {"annotations": {CIDR_ANNOTATION: None, GATEWAY_ANNOTATION: None}}},
    )
    wait_until(gone(networks, "web"), 30, "Network web deleted")
    wait_until(lambda: web_key not in read_state(state_dir), 30, "backend network web deleted")

    # The Deployment is deleted: the garbage collector deletes its Network
    # (the controller is stopped, so nothing else can), and the restarted
    # controller's sweep removes the actual network.
    deployments.create(deployment("db", annotations={CIDR_ANNOTATION: "10.11.0.0/16"}))
    wait_until(lambda: not gone(networks, "db")(), 30, "Network db created")
    wait_ready(networks, "db")
    assert f"{namespace}/db" in read_state(state_dir)
    assert controller.terminate() == 0
    deployments.delete("db", propagation_policy="Background")
    wait_until(gone(networks, "db"), 60, "the garbage collector to delete Network db")
    controller = start_controller("--resync", f"{RESYNC}s")
    wait_until(lambda: read_state(state_dir) == {}, 30, "backend network db deleted")
    assert controller.terminate() == 0


# -- a path that goes silent ------------------------------------------------------
def test_a_network_created_after_the_path_went_silent_is_reconciled_within_90s(
    testenv: ControlPlane,
    kubeconfig: str,
    networks: ResourceClient,
    namespace: str,
    state_dir: Path,
    tmp_path: Path,
) -> None:
    """Issue 17's bound, with the defaults: every connection the controller
    has open goes silent (a NAT that dropped its flows; new connections
    pass). Its watch hears nothing for 75 s, ends, and resumes on a new
    connection; the Network created meanwhile is ready within 90 s."""
    server = urlsplit(testenv.server)
    assert server.hostname is not None and server.port is not None
    with FaultProxy(server.hostname, server.port) as proxy:
        proxied = proxied_kubeconfig(kubeconfig, tmp_path / "proxied", proxy.port)
        controller = ControllerProcess(str(proxied), str(state_dir), ["--namespace", namespace])
        controller.start()
        try:
            controller.wait_for(containing(STARTED_WORKERS), 0)
            networks.create(network("before", "10.6.0.0/24", "10.6.0.1"))
            wait_ready(networks, "before")

            assert proxy.silence_open() >= 1
            silenced_at = time.monotonic()
            networks.create(network("after", "10.7.0.0/24", "10.7.0.1"))
            wait_until(
                lambda: ready_condition(networks.get("after")).get("status") == "True",
                timeout=100,
                what="the Network created after the path went silent to be ready",
            )
            took = time.monotonic() - silenced_at
            assert took <= 90, f"reconciled {took:.0f}s after the path went silent"
            assert f"{namespace}/after" in read_state(state_dir)
        finally:
            controller.kill()
