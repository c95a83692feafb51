"""Glue shared by tests, load tests and benchmarks: real services as local processes."""
