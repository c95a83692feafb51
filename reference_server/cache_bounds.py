"""Every cache a server or worker process keeps in its own memory, with its bound and what evicts.

A process's memory past warm-up is its baseline plus, at most, these caches full. Each is
bounded by recent jobs, not by all jobs seen: a bound far above the jobs a process follows at
once only looks like a leak for longer (the soak found 65,536-entry caches filling at about
4 KiB a job). Everything else per job lives in the job store (Redis, or the embedded store until
the job's TTL) and goes with the job.
"""

# Jobs whose status answers a process keeps ready to send again. A poll of an unchanged job is
# served from these; a process following more jobs at once re-encodes, which costs CPU, not memory.
RECENT_JOBS = 4096

BODIES_KEPT = RECENT_JOBS  # encoded status bodies by ETag and origin; least recently polled dropped
TIMESTAMPS_KEPT = 4 * RECENT_JOBS  # formatted times, four per job; least recently used dropped
SIGNED_LINKS_KEPT = RECENT_JOBS  # download-link signatures, one per job and signing window; LRU
METRIC_SERIES_KEPT = 1024  # metric series names (a few dozen exist); LRU
TRUSTED_PEERS_KEPT = 4096  # peer addresses checked against TRUSTED_PROXIES; LRU
