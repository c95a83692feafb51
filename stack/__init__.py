"""The real stack: Redis, MinIO, nchan, Toxiproxy, the proxy chain and the reference server, as processes or containers.
Imports `core` and `proxies`; it knows nothing of checks, models, load tests or reports."""
