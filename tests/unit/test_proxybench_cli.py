"""The one entry point: every command listed, each with its options and an example, and
the server importable without any package of the [bench] extra."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from proxybench.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]
BENCH_ONLY = ("locust", "pandas", "matplotlib", "simpy", "numpy", "testcontainers", "pytest", "prometheus_client")


def test_the_overview_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(f"  {name} " in listed for name in COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_shows_its_options_and_an_example(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    assert f"usage: proxybench {name}" in shown and f"example:\n  proxybench {name}" in shown


def test_an_unknown_command_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["benchmark"])
    assert done.value.code == 2 and "unknown command 'benchmark'" in capsys.readouterr().err


def test_the_server_and_its_command_import_without_the_bench_extra() -> None:
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {BENCH_ONLY!r}:\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import reference_server.app, reference_server.cli\n"
        "from proxybench.cli import main\n"
        "sys.exit(main(['simulate', '--help']))\n"
    )
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "pip install 'proxybench[bench]'" in done.stderr


def test_the_base_install_is_the_server_alone() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {dep.split(">")[0].split("[")[0].split("<")[0].strip().lower() for dep in project["dependencies"]}
    assert base == {"aiohttp", "redis", "minio", "standardwebhooks", "jsonschema"}
    assert project["scripts"]["proxybench"] == "proxybench.cli:main"
