"""Contract suites: one test body per port, run against every adapter of that port."""
