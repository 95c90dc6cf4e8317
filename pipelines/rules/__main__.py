import sys

from pipelines.rules.cli import main

sys.exit(main())
