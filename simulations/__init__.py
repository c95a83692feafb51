"""SimPy models of sync, polling, SSE, webhook and hybrid delivery on one shared Scenario."""
