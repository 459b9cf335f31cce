"""The README's service example works as pasted after `./dev demo` (run in a scratch folder with a
small demo, on a free port, every curl required to succeed)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from tests.infra.services import free_port

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The service (HTTP API)") :]
    return re.search(r"```bash\n(.*?)```", section, re.S)[1]  # type: ignore[index]


def test_the_readme_service_example_runs_as_pasted(tmp_path: Path) -> None:
    script = readme_example()
    assert "./dev demo" in script and "./dev serve &" in script
    port = str(free_port())
    script = script.replace("./dev demo", "./dev demo --people 40")
    script = script.replace("./dev serve &", f"./dev serve --port {port} &")
    script = script.replace("8000", port).replace("curl -s ", "curl -sf ")
    # The pause a person needs before the server answers: here, wait until it does.
    script = script.replace(
        "sleep 3",
        f"for _ in $(seq 300); do curl -sf http://127.0.0.1:{port}/healthz >/dev/null && break;"
        " sleep 0.2; done",
    )
    shutil.copy(ROOT / "dev", tmp_path / "dev")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    environ = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BENEFITS_JWT_SECRET")
    }
    environ["BENEFITS_VENV"] = str(ROOT / ".venv")
    environ["BENEFITS_SKIP_INSTALL"] = "1"  # never install from the scratch copy
    # Whatever happens, the server started in the background stops with the script.
    script = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script
    log = tmp_path / "example.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            process.wait(timeout=300)
        finally:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    text = log.read_text()
    assert process.returncode == 0, text[-3000:]
    assert '"person_id":"P2026-0000000"' in text
    assert '"status":"granted"' in text
    assert '"instructions":' in text
    # ... and `serve` offered a one-click operator sign-in for the dashboard.
    assert f"dashboard: http://127.0.0.1:{port}/dashboard/login?token=" in text
