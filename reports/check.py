"""`python -m reports check SUMMARY.json [--baseline OLD.json] [--rules FILE]`: the gate for
users' CI. Exits 1 and names every rule that fails; 2 when the input cannot be read."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path
from typing import Any

DEFAULT_RULES = Path(__file__).with_name("rules.toml")


class CheckError(ValueError):
    """The summary or the rules cannot be read."""


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckError(f"{path}: {exc}") from None


def check(summary_path: Path, baseline_path: Path | None = None, rules_path: Path = DEFAULT_RULES) -> list[str]:
    """Every failure, as a line of text; empty when all rules hold."""
    try:
        rules = tomllib.loads(rules_path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CheckError(f"{rules_path}: {exc}") from None
    values = flatten(_read_json(summary_path))
    failures = []
    for rule in rules.get("rule", []):
        matched = {k: v for k, v in values.items() if fnmatch.fnmatchcase(k, rule["path"])}
        if not matched:
            failures.append(f"{rule['name']}: nothing in the summary matches {rule['path']}")
        for key, value in matched.items():
            if value is None:
                failures.append(f"{rule['name']}: {key} has no value")
            elif "at_least" in rule and value < rule["at_least"]:
                failures.append(f"{rule['name']}: {key} = {value} < {rule['at_least']}")
            elif "at_most" in rule and value > rule["at_most"]:
                failures.append(f"{rule['name']}: {key} = {value} > {rule['at_most']}")
    if baseline_path is not None:
        failures += _regressions(values, flatten(_read_json(baseline_path)), rules.get("baseline", {}))
    return failures


def _regressions(now: dict[str, Any], old: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    tolerance, absolute = spec.get("tolerance", 0.1), spec.get("absolute", 0.0)
    failures = []
    for direction in ("higher_is_better", "lower_is_better"):
        for metric in spec.get(direction, []):
            for key, before in old.items():
                if not key.startswith("measured.") or not key.endswith(f".{metric}") or before is None:
                    continue
                after = now.get(key)
                if after is None:
                    failures.append(f"regression check: {key} is in the baseline but not in this summary")
                    continue
                allowed = max(abs(before) * tolerance, absolute)
                worse = before - after if direction == "higher_is_better" else after - before
                if worse > allowed:
                    failures.append(f"regression: {key} went from {before:.4g} to {after:.4g} (allowed {allowed:.3g})")
    return failures
