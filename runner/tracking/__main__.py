"""``python -m runner.tracking upload RUN_OR_SWEEP_DIR... [--uri URI]``."""
from runner.tracking.upload import main

raise SystemExit(main())
