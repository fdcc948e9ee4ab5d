"""``python -m cryptoflow.sandbox``: run the API sandbox in the foreground (``make sandbox``)."""

from __future__ import annotations

import sys

from cryptoflow.sandbox.server import main

if __name__ == "__main__":
    sys.exit(main())
