"""``python -m bench``: see bench/options.py for the flags (``--help``)."""

from __future__ import annotations

import sys

from bench.options import parse
from bench.run import main

if __name__ == "__main__":
    sys.exit(main(parse()))
