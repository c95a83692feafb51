"""Loaded by schemathesis (SCHEMATHESIS_HOOKS) for the spec test: it lets through only the
refusals a schema cannot state, because they depend on what the server already holds.

- `idempotency_key_reused` (422): a key sent again with another body. The IETF draft
  requires the 422; generators reuse short keys all the time.
- `invalid_last_event_id` for a cursor ahead of the job's log: a well-formed id that this
  stream never sent.
- A request line or header past aiohttp's limits (8190 bytes), as a generated list of job ids
  makes: aiohttp refuses it with 400 in its own `text/plain` before any application code runs
  (docs/api.md, "The API").
- A cancelled job that can still be read: DELETE cancels, and the record stays readable,
  as `cancelled`, until it expires (docs/api.md).
"""

from __future__ import annotations

import json

import schemathesis
from schemathesis import Case, HookContext, Response

# error code -> the status it comes with
STATE_DEPENDENT = {"idempotency_key_reused": 422, "invalid_last_event_id": 400}
CANCELLED_STAYS_READABLE = "Deleted resource still available"
REFUSED_BY_AIOHTTP = b"Got more than 8190 bytes when reading"


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
    if response.status_code == 400 and response.content.startswith(REFUSED_BY_AIOHTTP):
        return False
    code = _error_code(response)
    return code not in STATE_DEPENDENT or STATE_DEPENDENT[code] != response.status_code
