"""Config as code: pydantic models for pipeline, source, DQ and schema files, and their loaders."""
