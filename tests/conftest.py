"""Suite-wide rules for every test, unit and integration alike.

- No test leaves a thread running: a leaked informer, queue timer or helper
  thread keeps working on behalf of a test that has ended, and makes the
  tests after it fail (or pass) for reasons of its own.
- Process-wide state that the library keeps is put back after each test: the
  workqueue's global metrics provider, what tests registered in the default
  Prometheus registry, and the cache of exec-plugin credential providers.
  Without this, a test's outcome depends on which tests ran before it.
- The control-plane fixtures come from kubeloop's own pytest plugin
  (``kubeloop_testenv``, ``kubeloop_kubeconfig``, ``kubeloop_namespace``,
  ``kubeloop_kubectl``), loaded here as a user loads it; this suite calls
  them by the short names ``testenv``, ``kubeconfig``, ``namespace`` and
  ``kubectl``.
- Hypothesis has a ``ci`` profile (picked when ``$CI`` is set) and a ``dev``
  profile; both print the ``@reproduce_failure`` blob of a failing example,
  so a failure seen once on a CI runner can be replayed anywhere.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings
from prometheus_client import REGISTRY

if TYPE_CHECKING:
    from kubeloop.testenv import ControlPlane
    from kubeloop.testenv.pytest_plugin import KubectlRunner

pytest_plugins = ["kubeloop.testenv.pytest_plugin"]


# -- the control plane, by this suite's short names ----------------------------
@pytest.fixture(scope="session")
def testenv(kubeloop_testenv: ControlPlane) -> ControlPlane:
    return kubeloop_testenv


@pytest.fixture(scope="session")
def kubeconfig(kubeloop_kubeconfig: str) -> str:
    return kubeloop_kubeconfig


@pytest.fixture
def namespace(kubeloop_namespace: str) -> str:
    return kubeloop_namespace


@pytest.fixture(scope="session")
def kubectl(kubeloop_kubectl: KubectlRunner) -> KubectlRunner:
    return kubeloop_kubectl


# -- Hypothesis ---------------------------------------------------------------

# deadline=None: a per-example time limit fails on a loaded machine without
# saying anything about the code. CI draws fresh examples on every run
# (derandomize=False) and runs more of them; a failure prints the blob that
# replays it.
settings.register_profile("dev", print_blob=True, deadline=None)
settings.register_profile(
    "ci",
    derandomize=False,
    print_blob=True,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


# -- threads ------------------------------------------------------------------

#: How long a thread that a test started may take to end after the test (and
#: the fixtures it used) finished: stopping is asynchronous, hanging is not.
THREAD_JOIN_TIMEOUT = 5.0


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Every thread started during the test has ended by the time its
    fixtures are torn down (threads of wider-scoped fixtures, set up before
    this snapshot, are not the test's)."""
    before = set(threading.enumerate())
    yield
    new = [t for t in threading.enumerate() if t not in before]
    deadline = time.monotonic() + THREAD_JOIN_TIMEOUT
    for thread in new:
        thread.join(max(0.0, deadline - time.monotonic()))
    leaked = [t.name for t in new if t.is_alive()]
    assert not leaked, f"threads left running: {leaked}"


# -- process-wide library state ---------------------------------------------------


@pytest.fixture(autouse=True)
def restore_global_state() -> Iterator[None]:
    """Put back the state the library keeps per process, whatever the test did.

    - ``kubeloop.workqueue.set_provider`` and
      ``kubeloop.cache.set_informer_metrics_provider``: named queues and
      informers created without a provider of their own use the global one;
    - the default Prometheus registry: anything created without a registry
      (a named queue's metrics, the runtime's reconcile metrics, leader-election
      metrics) registers there, once per registry, so the per-registry
      caches that remember it are reset together with it;
    - ``kubeloop.client._exec._providers``: exec-plugin credentials shared by
      equal configurations; a credential cached by one test must not
      authenticate the next.
    """
    # Imported first so that every per-registry cache exists before the
    # snapshot: one first made during a test would outlive its collector.
    import kubeloop.cache.prometheus_informer_metrics
    import kubeloop.leaderelection.metrics
    import kubeloop.runtime.metrics
    import kubeloop.workqueue.prometheus_metrics  # noqa: F401
    from kubeloop._prometheus import PerRegistry
    from kubeloop.cache import informer_metrics
    from kubeloop.client import _exec
    from kubeloop.workqueue import metrics as workqueue_metrics

    per_registry_caches = PerRegistry.all()
    provider = workqueue_metrics._global_provider
    informer_provider = informer_metrics._global_provider
    collectors = set(REGISTRY._collector_to_names)
    cached = [cache.holds(REGISTRY) for cache in per_registry_caches]
    exec_providers = dict(_exec._providers)
    yield
    with workqueue_metrics._global_lock:
        workqueue_metrics._global_provider = provider
    with informer_metrics._global_lock:
        informer_metrics._global_provider = informer_provider
    for collector in set(REGISTRY._collector_to_names) - collectors:
        REGISTRY.unregister(collector)
    for cache, was_cached in zip(per_registry_caches, cached, strict=True):
        if not was_cached:
            cache.forget(REGISTRY)
    with _exec._providers_lock:
        _exec._providers.clear()
        _exec._providers.update(exec_providers)
