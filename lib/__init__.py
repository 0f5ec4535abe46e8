"""Convergence: the platform's pure logic, ports and adapters."""
