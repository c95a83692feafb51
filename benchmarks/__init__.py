"""`proxybench bench`: the orchestrator of every step, and the stream benchmarks it runs beside the micro-benchmarks.
The top of the layering: imports any package below it; nothing imports it."""
