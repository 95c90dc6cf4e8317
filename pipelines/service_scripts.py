"""What the project's service scripts (``scripts/<service>.sh``) report, for the launcher: the
Flink job server jar and configuration, the Kafka expansion service's address."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pipelines.options import LaunchError

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def script_output(script: Path, command: str, error: type[LaunchError] = LaunchError) -> str | None:
    """What ``script command`` prints, stripped; ``None`` outside a checkout (no script).
    ``error`` with the script's last line if it fails."""
    if not script.exists():
        return None
    done = subprocess.run([str(script), command], capture_output=True, text=True)
    if done.returncode != 0:
        said = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise error(f"scripts/{script.name} {command} failed: {said[-1]}")
    return done.stdout.strip()
