import sys

from pipelines.models.cli import main

sys.exit(main())
