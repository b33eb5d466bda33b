"""kubeloop: a faithful, fast toolkit for writing Kubernetes controllers.

Layers, bottom to top (a lower layer never imports a higher one; the order is
checked by ``tests/unit/layout/test_import_layers.py``):

- :mod:`kubeloop.errors`, :mod:`kubeloop.clock`: one exception hierarchy; time;
- :mod:`kubeloop.typed`, :mod:`kubeloop.gen`: typed models and their generator;
- :mod:`kubeloop.workqueue`: queues and rate limiters;
- :mod:`kubeloop.client`: config, transport, REST and watch;
- :mod:`kubeloop.cache`: reflector, RealFIFO and DeltaFIFO, indexer, informers, listers;
- :mod:`kubeloop.events`, :mod:`kubeloop.leaderelection`;
- :mod:`kubeloop.metrics`: the metrics and health server;
- :mod:`kubeloop.runtime`: the manager, controllers and the reconcile contract.

:mod:`kubeloop.testenv` (a real local control plane for tests) stands beside
them and uses only the client. Example::

    from kubeloop.runtime import Manager, Result, argument_parser
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
