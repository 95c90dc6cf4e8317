from pipelines.warehouse.cli import main

raise SystemExit(main())
