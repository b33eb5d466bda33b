"""kopf peer for bench/run.py: the Network controller's job as a kopf operator.

One async handler for create, update and resume compares the object kopf
hands it with an in-memory no-op backend (kopf has no informer cache: the
body comes from the watch event). Prints ``reconciled <key>`` per call.

To write nothing to the API server, as no peer does: kopf's diff base (by
default the ``last-handled-configuration`` annotation, one PATCH per object)
is kept in memory, and Events are not posted (by default kopf posts one per
handler). ``--standalone``: no peering. Everything else is kopf's default,
including its INFO logging of every handler run, as ``kopf run`` does.

Usage: python bench/peers/kopf_peer.py --kubeconfig K --namespace NS --workers N
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

import kopf
from kubernetes.config import kube_config

BACKEND: dict[str, tuple[str, str, str]] = {}


class MemoryDiffBaseStorage(kopf.DiffBaseStorage):
    """The last handled essence per object uid, in this process only."""

    def __init__(self) -> None:
        super().__init__()
        self._essences: dict[str, kopf.BodyEssence] = {}

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return self._essences.get(body.metadata.uid or "")

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        self._essences[body.metadata.uid or ""] = essence


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.diffbase_storage = MemoryDiffBaseStorage()
    settings.posting.enabled = False
    settings.execution.max_workers = WORKERS


@kopf.on.resume("samplecrd.k8s.io", "v1", "networks")
@kopf.on.create("samplecrd.k8s.io", "v1", "networks")
@kopf.on.update("samplecrd.k8s.io", "v1", "networks")
async def reconcile(body: kopf.Body, spec: kopf.Spec, **_: Any) -> None:
    key = f"{body.metadata.namespace}/{body.metadata.name}"
    want = (str(spec.get("cidr", "")), str(spec.get("gateway", "")), body.metadata.uid or "")
    if BACKEND.get(key) != want:
        BACKEND[key] = want
    sys.stdout.write(f"reconciled {key}\n")
    sys.stdout.flush()


WORKERS = 2


def main() -> None:
    global WORKERS
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    WORKERS = args.workers
    # kopf logs in through the official client, which read $KUBECONFIG when
    # it was imported (with kopf, above): point both at our kubeconfig.
    os.environ["KUBECONFIG"] = args.kubeconfig
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = args.kubeconfig
    kopf.configure(verbose=False)  # what `kopf run` does: INFO logs to stderr
    # kopf has no "caches synced" moment; the harness reports only the
    # time to all reconciled for it.
    asyncio.run(kopf.operator(standalone=True, namespaces=[args.namespace]))


if __name__ == "__main__":
    main()
