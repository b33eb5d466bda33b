"""An event loop in a thread of its own, for a manager that runs async
reconcilers from the blocking :meth:`Manager.run`: the loop belongs to the
manager (never to a client), and every async controller's tasks share it.

::

    loop = LoopThread("kubeloop-reconcile-loop")
    future = asyncio.run_coroutine_threadsafe(work(), loop.loop)
    ...
    loop.stop()                   # after the work is done: stop, join, close
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

__all__ = ["LoopThread"]


class LoopThread:
    """A running loop (``loop_factory()``, default asyncio's) in a daemon thread."""

    def __init__(
        self,
        name: str,
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
    ) -> None:
        self.loop = loop_factory()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop once what is scheduled now has run, join, close."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()
