"""The complete target.toml in the docs (docs/check.md) is a valid target: the example cannot drift
from what the loader accepts."""

from __future__ import annotations

import re
from pathlib import Path

from checks.target import ENDPOINTS, field_notes, load_target

CHECK_PAGE = Path(__file__).resolve().parents[2] / "docs" / "check.md"


def test_the_documented_example_loads_with_every_endpoint_in_scope(tmp_path: Path) -> None:
    section = CHECK_PAGE.read_text().split("# Check your own service", 1)[1]
    example = re.search(r"```toml\n(.*?)```", section, re.S)
    assert example is not None
    path = tmp_path / "target.toml"
    path.write_text(example.group(1))
    target = load_target(path)
    assert set(target.scope) == set(ENDPOINTS)
    assert target.bodies.render("initiate", [3, 4]) == {"format": "zip", "files": [3, 4]}
    assert target.executions.counter == "exports_started_total"


def test_every_target_field_has_a_meaning_for_the_generated_reference() -> None:
    notes = field_notes()
    assert [n.key for n in notes if not n.meaning] == []
    assert {n.key.split(".", 1)[0] for n in notes} >= {"service", "paths", "bodies", "answers", "work", "executions"}
    assert any("0:" in n.meaning for n in notes if n.key == "heartbeat_s")
