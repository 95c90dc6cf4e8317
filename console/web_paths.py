"""Where the console's templates and static files are, inside the installed package, and the
Grafana dashboards it draws on /monitoring (the repository's; an image sets
STREAMFLOW_DASHBOARDS_DIR)."""

from pathlib import Path

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
DASHBOARDS = HERE.parent / "k8s" / "monitoring" / "dashboards"
