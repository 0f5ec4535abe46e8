"""Step execution: the shared runner (idempotency, records, next events) and one module per type."""
