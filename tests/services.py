"""The project's service scripts (scripts/<service>.sh), as the tests call them."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def service_script(service: str, command: str, timeout: float = 60) -> str:
    """Run ``scripts/<service>.sh <command>``; its standard output, stripped. A failing script
    raises ``CalledProcessError``, which carries its output."""
    done = subprocess.run(
        [str(SCRIPTS / f"{service}.sh"), command],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.stdout.strip()
