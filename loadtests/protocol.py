"""What the runner and the Locust processes agree on, importable without Locust (which
patches the interpreter with gevent when imported)."""

from __future__ import annotations

from reference_server.contract import HYBRID, LONGPOLL, POLLING, SSE, SYNC, WEBHOOK, WEBSOCKET

# The Locust user class that plays each pattern (defined in locustfile.py).
USER_CLASSES = {
    SYNC: "SyncUser",
    POLLING: "PollingUser",
    LONGPOLL: "LongPollUser",
    SSE: "SseUser",
    WEBSOCKET: "WebSocketUser",
    WEBHOOK: "WebhookUser",
    HYBRID: "HybridUser",
}
SECRET_ENV = "PROXYBENCH_WEBHOOK_SECRET"  # the stack's webhook secret, for the receivers
NETWORK_FAILURE = 0  # Locust's status for a request that got no answer (reset, or silent past the timeout)
# The error a job's row carries when every send of its initiate went unanswered.
UNANSWERED_INITIATE = f"initiate answered {NETWORK_FAILURE}"
