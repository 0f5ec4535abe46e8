"""Sources: where an ingest step's rows come from, behind one interface.

``lib.sources.base`` defines the :class:`~lib.sources.base.Source` protocol and the
:class:`~lib.sources.base.IngestRequest` it takes; ``lib.sources.registry`` picks the
implementation for a source config's ``kind``. The implementations live with their domain
(``lib/providers``, ``lib/pricing``, ``lib/budgets``). See docs/architecture.md.
"""
