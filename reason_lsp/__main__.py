"""``python -m reason_lsp``: the same entry point as the ``reason-lsp`` script."""

import sys

from reason_lsp.cli import main

if __name__ == "__main__":
    sys.exit(main())
