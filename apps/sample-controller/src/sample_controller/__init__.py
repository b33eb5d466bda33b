"""k8s.io/sample-controller's Foo controller on kubeloop (see :mod:`.controller`;
:mod:`.async_controller` is the same as an ``async def`` reconcile)."""

from sample_controller.controller import FOO, ResourceExistsError, add_controller, new_deployment

__all__ = ["FOO", "ResourceExistsError", "add_controller", "new_deployment"]
