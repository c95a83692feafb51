"""Loaded by schemathesis (SCHEMATHESIS_HOOKS) for the spec test: it lets through only the
refusals a schema cannot state, because they depend on what the server already holds.

- `idempotency_key_reused` (422): a key sent again with another body. The IETF draft
  requires the 422; generators reuse short keys all the time.
- `invalid_last_event_id` for a cursor ahead of the job's log: a well-formed id that this
  stream never sent.
- `upgrade_required` (426) from the WebSocket endpoints: schemathesis speaks plain HTTP,
  so every request it sends there is not a handshake (tests/integration/test_websocket.py
  checks the feed itself).
- A cancelled job that can still be read: DELETE cancels, and the record stays readable,
  as `cancelled`, until it expires (README, "The API").
"""

from __future__ import annotations

import json

import schemathesis
from schemathesis import Case, HookContext, Response

# error code -> the status it comes with
STATE_DEPENDENT = {"idempotency_key_reused": 422, "invalid_last_event_id": 400, "upgrade_required": 426}
CANCELLED_STAYS_READABLE = "Deleted resource still available"


def _error_code(response: Response) -> str | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


@schemathesis.hook
def filter_failure(context: HookContext, failure: object, case: Case, response: Response) -> bool:
    if getattr(failure, "title", "") == CANCELLED_STAYS_READABLE:
        return False
    code = _error_code(response)
    return code not in STATE_DEPENDENT or STATE_DEPENDENT[code] != response.status_code
