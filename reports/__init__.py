"""The decision-matrix report: from a bench's results folder to HTML, Markdown, CSV and summary.json, and the CI gate.
Imports `simulations`, `core` and `stack` (provenance) to read results; it runs nothing and nothing below imports it."""
