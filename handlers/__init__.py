"""Cloud Run entry points: one functions-framework CloudEvent function per step type."""
