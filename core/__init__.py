"""The model both engines share: a scenario, its workload, per-job metrics, and the wire formats clients read.
Imports only `proxies` (to name a chain) and `reference_server.contract`; every other package may import it."""
