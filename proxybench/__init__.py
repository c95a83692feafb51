"""The `proxybench` command: one entry point for the server, the stack, the models, the
load tests, the bench and its report, and the checks of any service."""
