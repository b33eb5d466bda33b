"""kubeloop: a faithful, fast toolkit for writing Kubernetes controllers.

Layers, bottom to top: :mod:`kubeloop.client` (config, transport, REST and
watch), :mod:`kubeloop.cache` (reflector, DeltaFIFO, indexer, informers,
listers), :mod:`kubeloop.workqueue`, then the controller runner and
applications. A lower layer never imports a higher one.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
