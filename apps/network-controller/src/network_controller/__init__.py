"""The reference Network controller built on kubeloop.

Run it as ``network-controller`` or ``python -m network_controller``; see
:mod:`network_controller.__main__` for the program's shape.
"""

from network_controller.backend import ActualNetwork, Backend, BackendError, DesiredNetwork
from network_controller.controller import NetworkReconciler
from network_controller.deployments import DeploymentNetworks
from network_controller.mock_backend import MockBackend
from network_controller.models import Network

__all__ = [
    "ActualNetwork",
    "Backend",
    "BackendError",
    "DeploymentNetworks",
    "DesiredNetwork",
    "MockBackend",
    "Network",
    "NetworkReconciler",
]
