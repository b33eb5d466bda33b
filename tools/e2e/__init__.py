"""The end-to-end harness: the Network controller run whole, from outside.

- :mod:`tools.e2e.process`: the controller as a child process (:class:`ControllerProcess`);
- :mod:`tools.e2e.walkthrough`: the walkthrough ``make demo`` replays;
- :mod:`tools.e2e.chaos`: the chaos suite (``make chaos``, ``make chaos-quick``,
  ``make chaos-scale`` at 10,000 Networks);
- :mod:`tools.e2e.soak`: the soak (``make soak``), judged and charted by
  :mod:`tools.e2e.soak_report` from the records of :mod:`tools.e2e.soak_data`;
- :mod:`tools.e2e.doc_sections`: the generated sections of docs/reliability.md;
- :mod:`tools.e2e.writers`: bulk writes by concurrent writers.

Run from the repository root, e.g. ``python -m tools.e2e.walkthrough``.
"""
