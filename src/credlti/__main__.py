"""Run the ``credlti`` command with ``python -m credlti``."""

from credlti.cli import main

raise SystemExit(main())
