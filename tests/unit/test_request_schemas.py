"""Request bodies are checked against the JSON Schemas /openapi.json serves: the message
names the field and the rule it breaks."""

from __future__ import annotations

import copy

import pytest

from reference_server.api.openapi import document
from reference_server.api.schemas import REQUESTS, problem
from reference_server.callback_policy import CallbackPolicy, parse_entry
from reference_server.contract import LONGPOLL_MAX_WAIT_S


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "request body breaks the rule 'required': 'file_ids' is a required property"),
        ({"file_ids": [70000, 5]}, "file_ids[1] breaks the rule 'minimum'"),
        ({"file_ids": [70000, 70000]}, "file_ids breaks the rule 'uniqueItems'"),
        ({"file_ids": []}, "file_ids breaks the rule 'minItems'"),
        ({"file_ids": [True]}, "file_ids[0] breaks the rule 'type'"),
        ({"file_ids": [70000], "callback_url": 7}, "callback_url breaks the rule 'type'"),
        ({"file_ids": [70000], "callback_url": "http://x/" + "a" * 3000}, "callback_url breaks the rule 'maxLength'"),
    ],
)
def test_a_bad_initiate_body_names_the_field_and_the_rule(body: dict[str, object], expected: str) -> None:
    found = problem("InitiateRequest", body)
    assert found is not None and found.startswith(expected), found
    assert len(found) < 400  # the offending value is quoted, but never at length


def test_a_good_body_has_no_problem() -> None:
    assert problem("InitiateRequest", {"file_ids": [70000, 70007], "callback_url": "http://127.0.0.1:9/h"}) is None
    assert problem("FileRequest", {"file_id": 70000}) is None


def test_the_served_document_holds_the_schemas_the_server_validates_with() -> None:
    policy = CallbackPolicy((parse_entry("hooks.example.com"),))
    schemas = document(policy, LONGPOLL_MAX_WAIT_S)["components"]["schemas"]
    for name, schema in REQUESTS.items():
        served = copy.deepcopy(schemas[name])
        if name == "InitiateRequest":  # plus where this server's callbacks may go
            assert served["properties"]["callback_url"].pop("pattern") == policy.url_pattern()
        assert served == schema
