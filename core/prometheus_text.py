"""Prometheus text exposition, parsed by prometheus_client's own parser: the one reader
for the reference server's /metrics and any target's counters."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def series(text: str) -> dict[str, float]:
    """Every sample by its series name, `name{label="value",...}` with labels sorted
    (how the reference server writes them), or the bare name without labels."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return values


def counter_value(text: str, name: str) -> float:
    """A counter's value summed over its label sets; 0 when it is not exported yet.

    Matched by sample name: how the parser groups samples into families depends on the
    TYPE lines, which services write in more than one way."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )
