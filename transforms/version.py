"""The release that produced a record; stamped on dead-letter records."""

VERSION = "0.1.0"
PIPELINE_VERSION = f"streamflow-{VERSION}"
