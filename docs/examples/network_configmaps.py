"""A ConfigMap per Network, with its cidr and gateway, owned by the Network."""

from typing import Any

from kubeloop.runtime import Context, Manager, Result, argument_parser, set_controller_reference

NETWORK = ("samplecrd.k8s.io/v1", "Network")


def main(argv: list[str] | None = None) -> int:
    args = argument_parser("network-configmaps").parse_args(argv)
    manager = Manager.from_args(args)  # flags, logging, client, cache, leader election
    configmaps = manager.client.resource("v1", "configmaps", namespaced=True)

    def reconcile(ctx: Context[dict[str, Any]], net: dict[str, Any] | None) -> Result:
        if net is None:
            return Result.done()  # the garbage collector deletes the ConfigMap it owned
        cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{ctx.name}-network", "namespace": ctx.namespace},
            "data": {"cidr": net["spec"]["cidr"], "gateway": net["spec"]["gateway"]},
        }
        set_controller_reference(net, cm)
        # Server-side apply: no write when nothing changed, and a hand edit is undone.
        configmaps.apply(cm, field_manager="network-configmaps", force=True)
        return Result.done()

    # owns(): a change to an owned ConfigMap reconciles its Network.
    manager.controller(NETWORK, reconcile, workers=2).owns(("v1", "ConfigMap"))
    return manager.run()  # until SIGTERM or SIGINT


if __name__ == "__main__":
    raise SystemExit(main())
