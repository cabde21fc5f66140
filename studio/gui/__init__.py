"""The Studio window (PySide6): the only package that imports Qt.

``app`` starts it (``studio gui``, ``--self-test``, ``--screenshot``); ``mainwindow`` holds
the sidebar of pages; ``pages/`` has one module per workflow; ``workers`` runs job
generators in threads and owns the queue; ``paramsform`` turns a job's params dataclass
into a form; ``widgets``, ``theme``, ``settings`` and ``workspace`` are the shared pieces;
``selftest`` drives every page headless. See docs/gui.md.
"""
