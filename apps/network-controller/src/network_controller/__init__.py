"""The reference Network controller built on kubeloop.

Run it as ``network-controller`` or ``python -m network_controller``; see
:mod:`network_controller.__main__` for the program's shape.
"""

from network_controller.backend import ActualNetwork, Backend, BackendError, DesiredNetwork
from network_controller.controller import NETWORK_API_VERSION, NetworkController
from network_controller.deployments import DeploymentNetworkController
from network_controller.mock_backend import MockBackend

__all__ = [
    "NETWORK_API_VERSION",
    "ActualNetwork",
    "Backend",
    "BackendError",
    "DeploymentNetworkController",
    "DesiredNetwork",
    "MockBackend",
    "NetworkController",
]
