"""What the runner and the Locust processes agree on, importable without Locust (which
patches the interpreter with gevent when imported)."""

from __future__ import annotations

# The Locust user class that plays each pattern (defined in locustfile.py).
USER_CLASSES = {
    "sync": "SyncUser",
    "polling": "PollingUser",
    "sse": "SseUser",
    "webhook": "WebhookUser",
    "hybrid": "HybridUser",
}
SECRET_ENV = "PROXYBENCH_WEBHOOK_SECRET"  # the stack's webhook secret, for the receivers
