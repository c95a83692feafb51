"""The decision-matrix report: from simulation tables and load-test results folders to
an HTML page, a Markdown report, CSV tables and a summary.json, and the CI check on it."""
