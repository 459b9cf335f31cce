"""Running `benefits` commands in-process, as a user would type them."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from engine.cli import app

runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def cli_json(*args: str) -> Any:
    """Run a command with --json; it must succeed."""
    code, output = cli(*args, "--json")
    assert code == 0, output
    return json.loads(output)
