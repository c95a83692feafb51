"""Writes the reference pages from the code at build time (mkdocs-gen-files), so they cannot drift:
the settings from `reference_server.config.VARIABLES`, the CLI from each command's argparse parser,
the checks from their registrations, target.toml's fields from their comments, and the HTTP API
from the `/openapi.json` the server serves."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import mkdocs_gen_files

from checks.suite import CHECKS
from checks.target import field_notes
from proxybench.cli import COMMANDS, command_parser
from reference_server.api.openapi import document
from reference_server.callback_policy import CallbackPolicy
from reference_server.config import CLI_TO_FIELD, VARIABLES, Number, Settings

os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal; the page should not depend on it


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(variable: Any, settings: Settings) -> str:
    holder: Any = settings
    for part in variable.field.split("."):
        holder = getattr(holder, part)
    if holder is None or holder in ("", ()):
        return "unset" if not isinstance(holder, tuple) else "empty"
    if isinstance(holder, bool):
        return str(holder).lower()
    if isinstance(holder, tuple):
        return "`" + ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in holder) + "`"
    if isinstance(variable.read, Number):
        return f"{holder * variable.read.per_unit:g}"
    return f"`{holder}`"


def settings_page() -> str:
    defaults = dataclasses.replace(Settings(), webhook_secret="")  # the generated secret is per process
    flags = {field: "--" + arg.replace("_", "-") for arg, field in CLI_TO_FIELD.items()}
    rows = [
        f"| `{v.name}` | {flags.get(v.field, '')} | {_default(v, defaults)} | {_cell(v.meaning)} |" for v in VARIABLES
    ]
    return "\n".join(
        [
            "# Settings",
            "",
            "Generated from `reference_server/config.py` (`VARIABLES`). The original service's environment",
            "variables keep their names and meanings; booleans are parsed properly (`false` means false);",
            "a command-line flag wins over its variable. Every duration is multiplied by `TIME_SCALE`",
            "unless its meaning says otherwise.",
            "",
            "| variable | flag | default | meaning |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )


def cli_page() -> str:
    lines = ["# Command line", "", "Generated from each command's argparse parser (`proxybench/cli.py`).", ""]
    for name in COMMANDS:
        lines += [f"## proxybench {name}", "", "```text", command_parser(name).format_help().rstrip(), "```", ""]
    return "\n".join(lines)


def checks_page() -> str:
    rows = [
        f"| `{c.name}` | {', '.join(c.needs)} | {_cell(c.proves)} | {_cell(c.leaves)} | {_cell(c.fix)} |"
        for c in CHECKS.values()
    ]
    return "\n".join(
        [
            "# Checks",
            "",
            "Generated from the checks' registrations in `checks/suite.py`: what each needs in the target's",
            "scope, what a pass proves, what it leaves unproved, and what a service that fails it would change",
            "(what `proxybench check --explain` prints). [Checking your own service](../check.md) says how to",
            "describe a service and read the verdicts.",
            "",
            "| check | needs in scope | a pass proves | it does not prove | a failing service would |",
            "|---|---|---|---|---|",
            *rows,
            "",
        ]
    )


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}" if not value else "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }"
    if isinstance(value, str):
        return json.dumps(value) if '"' not in value else f"'{value}'"
    return f"{value:g}" if isinstance(value, float) else str(value)


def target_page() -> str:
    rows = [f"| `{n.key}` | `{_cell(_toml(n.default))}` | {_cell(n.meaning)} |" for n in field_notes()]
    return "\n".join(
        [
            "# target.toml",
            "",
            "Generated from `checks/target.py`: every field of a target file, its default, and what it means.",
            "`service.url` is a top-level table's field: write it `[service]` then `url = ...`. Every field is",
            "optional, and the defaults describe the reference server. [Checking your own service](../check.md)",
            "has a worked example for a service unlike it.",
            "",
            "| field | default | meaning |",
            "|---|---|---|",
            *rows,
            "",
        ]
    )


def _schema(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    kind = schema.get("type", "")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    extra = [f"{k} `{schema[k]}`" for k in ("format", "pattern", "minimum", "maximum") if k in schema]
    return ", ".join([kind, *extra]) if kind else ", ".join(extra)


def api_page(spec: dict[str, Any]) -> str:
    lines = [
        "# HTTP API",
        "",
        "Generated from the server's `/openapi.json` ([download](openapi.json)) with its default settings;",
        "a running server states its own callback hosts and long-poll cap. How the API is meant to be used:",
        "[The API](../api.md).",
        "",
    ]
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method == "parameters":
                continue
            lines += [f"## `{method.upper()} {path}`", "", op.get("summary", ""), ""]
            params = shared + op.get("parameters", [])
            if params:
                lines += ["| parameter | in | required | schema | meaning |", "|---|---|---|---|---|"]
                lines += [
                    f"| `{p['name']}` | {p['in']} | {'yes' if p.get('required') else 'no'} | "
                    f"{_cell(_schema(p.get('schema', {})))} | {_cell(p.get('description', ''))} |"
                    for p in params
                ]
                lines.append("")
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                lines += [f"Body: `{media}`, {_schema(content.get('schema', {}))}.", ""]
            lines += ["| status | meaning |", "|---|---|"]
            lines += [f"| {code} | {_cell(r.get('description', ''))} |" for code, r in op["responses"].items()]
            lines.append("")
    lines += ["## Schemas", ""]
    for name, schema in spec["components"]["schemas"].items():
        lines += [f"### {name}", "", "```json", json.dumps(schema, indent=2), "```", ""]
    return "\n".join(lines)


spec = document(CallbackPolicy(()), Settings().longpoll_max_wait_s)
pages = {
    "reference/settings.md": settings_page(),
    "reference/cli.md": cli_page(),
    "reference/checks.md": checks_page(),
    "reference/target.md": target_page(),
    "reference/api.md": api_page(spec),
    "reference/openapi.json": json.dumps(spec, indent=2),
}
for name, text in pages.items():
    with mkdocs_gen_files.open(name, "w") as out:
        out.write(text)
