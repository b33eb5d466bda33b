"""A real local Kubernetes control plane for tests, demos and benchmarks.

kube-apiserver v1.37 with embedded etcd and kube-controller-manager, built from
Go modules (``testenv/``) and run on loopback::

    from kubeloop.testenv import ControlPlane
    with ControlPlane("/tmp/kl") as cp:
        print(cp.kubeconfig)      # admin kubeconfig (system:masters)

From a shell: ``python -m kubeloop.testenv up --dir /tmp/kl``.
:class:`FaultProxy` sits between a client and the server to cut, stall or
slow connections.
"""

from kubeloop.testenv._build import KUBE_VERSION, BuildError, binary_path, ensure_binary
from kubeloop.testenv._controlplane import ControlPlane, ControlPlaneError
from kubeloop.testenv.faultproxy import FaultProxy, proxied_config, proxied_kubeconfig

__all__ = [
    "KUBE_VERSION",
    "BuildError",
    "ControlPlane",
    "ControlPlaneError",
    "FaultProxy",
    "binary_path",
    "ensure_binary",
    "proxied_config",
    "proxied_kubeconfig",
]
