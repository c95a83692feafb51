"""Check results as JUnit XML, the format CI systems read: one testcase per check, a
failure for `fail`, skipped (with the reason) for `not measurable` and `not in scope`."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .suite import Result


def junit_xml(suite: str, results: list[Result]) -> str:
    failures = sum(r.verdict == "fail" for r in results)
    skipped = sum(r.verdict in ("not measurable", "not in scope") for r in results)
    total_s = f"{sum(r.seconds for r in results):.3f}"
    counts = {"tests": str(len(results)), "failures": str(failures), "errors": "0", "skipped": str(skipped)}
    root = ET.Element("testsuites", {**counts, "time": total_s})
    node = ET.SubElement(root, "testsuite", {"name": suite, **counts, "time": total_s})
    for r in results:
        group, name = r.check.split("/", 1)
        case = ET.SubElement(
            node, "testcase", {"classname": f"proxybench.{group}", "name": name, "time": f"{r.seconds:.3f}"}
        )
        if r.verdict == "fail":
            failure = ET.SubElement(case, "failure", {"message": r.evidence, "type": "fail"})
            failure.text = f"{r.proves}\nwhat to change: {r.fix}"
        elif r.verdict != "pass":
            ET.SubElement(case, "skipped", {"message": f"{r.verdict}: {r.evidence}"})
        ET.SubElement(case, "system-out").text = f"{r.verdict}: {r.evidence}\nproves: {r.proves}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: Path, suite: str, results: list[Result]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(suite, results))
