"""One replica of a sharded controller, for the sharding tests:
``python -m tests.integration.sharding.replica_app --kubeconfig ... --shard-count 12
--leader-elect-namespace ns --identity r1``.

It reconciles Networks (and, ``--owns-deployments``, the Deployments they
own) and prints one JSON line per reconcile on stdout, ``{"r": identity,
"k": key, "s": start, "e": end, "obj": whether the object was cached}``,
with times from ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every
process on the machine), so the test can check that no key was handled by
two replicas at overlapping times. A reconcile marks the Network Ready (a
status write) if it is not yet. Every half second it prints
``{"stats": ...}``: held shards, cached and received objects.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from kubeloop.errors import is_not_found
from kubeloop.runtime import Context, Manager, argument_parser, set_condition

NETWORKS = ("samplecrd.k8s.io/v1", "networks")
#: Guards stdout (workers of several shards print).
_print_lock = threading.Lock()


def emit(record: dict[str, Any]) -> None:
    line = json.dumps(record)
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser("shard-replica")
    parser.add_argument("--identity", required=True)
    parser.add_argument("--owns-deployments", action="store_true")
    args = parser.parse_args(argv)
    manager = Manager.from_args(args, metrics_bind_address=None, health_probe_bind_address=None)
    options = manager.sharding_options(args)
    assert options is not None, "--shard-count must be given"
    options = type(options)(**{**options.__dict__, "identity": args.identity})
    networks = manager.client.resource(*NETWORKS)

    def reconcile(ctx: Context[dict[str, Any]], net: dict[str, Any] | None) -> None:
        start = time.monotonic()
        if net is not None:
            conditions = [dict(c) for c in (net.get("status") or {}).get("conditions") or []]
            if set_condition(conditions, "Ready", "True", "Synced", "reconciled"):
                try:
                    networks.update_status({**net, "status": {"conditions": conditions}})
                except Exception as err:
                    if not is_not_found(err):
                        raise
        emit(
            {
                "r": args.identity,
                "k": ctx.key,
                "s": start,
                "e": time.monotonic(),
                "obj": net is not None,
            }
        )

    controller = manager.sharded_controller(
        NETWORKS, reconcile, options, name="networks", workers=2
    )
    if args.owns_deployments:
        controller.owns(("apps/v1", "Deployment"))

    def stats(stop: threading.Event) -> None:
        while not stop.wait(0.5):
            shards = controller.shards
            emit(
                {
                    "stats": {
                        "r": args.identity,
                        "held": sorted(controller.held_shards()),
                        "cached": sum(shards.cached_objects().values()) if shards else 0,
                        "received": controller.received_objects(),
                    }
                }
            )

    stop = threading.Event()
    threading.Thread(target=stats, args=(stop,), daemon=True).start()
    try:
        return manager.run()
    finally:
        stop.set()


if __name__ == "__main__":
    sys.exit(main())
