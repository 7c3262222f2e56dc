"""``python -m kiwi_mcp`` is ``kiwi``."""

from kiwi_mcp.kernel.faces.cli.main import main

raise SystemExit(main())
