"""``python -m realisdance``: see ``realisdance.cli``."""

from .cli import main

raise SystemExit(main())
