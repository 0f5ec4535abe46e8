"""Budgets: loading a tenant's budgets from config and alerting when a threshold is crossed."""
