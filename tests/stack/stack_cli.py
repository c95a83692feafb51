"""`python -m stack up` as a person runs it: started, its JSON summary read from its output."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def stack_up(*options: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "stack", "up", *options], stdout=subprocess.PIPE, text=True)


def printed_summary(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The JSON the stack prints once it is up (it ends with a closing brace alone on its line)."""
    assert proc.stdout is not None
    text = ""
    while True:
        line = proc.stdout.readline()
        assert line, "the stack exited before printing its URLs"
        text += line
        if line.rstrip() == "}":
            return dict(json.loads(text))
