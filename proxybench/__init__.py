"""The `proxybench` command: one entry point for the server, the stack, the models, the load tests, bench and checks.
Imports each command's package only when that command runs, so the server alone installs without the bench's extras."""
