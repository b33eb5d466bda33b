"""The end-to-end harness: the Network controller run whole, from outside.

- :mod:`tools.e2e.process`: the controller as a child process (:class:`ControllerProcess`);
- :mod:`tools.e2e.walkthrough`: the walkthrough ``make demo`` replays;
- :mod:`tools.e2e.chaos`: the chaos suite (``make chaos``, ``make chaos-quick``).

Run from the repository root, e.g. ``python -m tools.e2e.walkthrough``.
"""
