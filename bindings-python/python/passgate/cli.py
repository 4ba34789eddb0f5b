"""The ``passgate`` command (``[project.scripts]``): the core's command line, run natively.

Every subcommand lives once in the Rust core (``passgate::cli``); this is only its entry point.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from passgate import _native


def _launcher() -> list[str]:
    """How a client starts this command again (``passgate init`` writes it into the client's config):
    the console script's absolute path, else this interpreter running the module. Absolute, since
    a desktop client's PATH does not hold the virtual environment."""
    script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if os.path.basename(script).startswith("passgate") and os.path.isfile(script):
        return [script]
    return [os.path.abspath(sys.executable), "-m", "passgate.cli"]


def main() -> None:
    """Runs ``passgate`` with ``sys.argv[1:]`` and exits with its code."""
    os.environ["PASSGATE_CLI_LAUNCHER"] = json.dumps(_launcher())
    # Python's SIGINT handler only runs between bytecodes, never while the native loop holds the
    # thread: restore the default so Ctrl-C stops `passgate mcp serve`.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(_native.cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
