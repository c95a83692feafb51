"""SimPy models of every delivery pattern (sync, polling, long polling, SSE, WebSocket, webhook, hybrid) on a Scenario.
Imports `core` and the server's contract only; the load tests and the report import it."""
