"""The ``passgate`` command (``[project.scripts]``): the core's command line, run natively.

Every subcommand lives once in the Rust core (``passgate::cli``); this is only its entry point.
"""

from __future__ import annotations

import signal
import sys

from passgate import _native


def main() -> None:
    """Runs ``passgate`` with ``sys.argv[1:]`` and exits with its code."""
    # Python's SIGINT handler only runs between bytecodes, never while the native loop holds the
    # thread: restore the default so Ctrl-C stops `passgate mcp serve`.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(_native.cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
