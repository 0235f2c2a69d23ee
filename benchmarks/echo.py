"""Echo throughput, asgiws serve() against websockets, in one run: a front door onto run.py.

    python benchmarks/echo.py            # 64 B round trips/s (a) and 1 MiB MB/s (c)
    python benchmarks/echo.py --quick    # the same with short windows

It runs scenarios a and c of ``benchmarks/run.py`` with the servers asgiws-native and
websockets (and the minimal uvloop echo server, the reference every ratio is taken to). Any
other ``run.py`` option passes through, e.g. ``--rounds 5`` or ``--servers ...`` to override.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import run

DEFAULTS = {"--scenarios": "a,c", "--servers": "minimal,asgiws-native,websockets"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    for option, value in DEFAULTS.items():
        if not any(item == option or item.startswith(option + "=") for item in argv):
            argv += [option, value]
    return run.main(argv)


if __name__ == "__main__":
    sys.exit(main())
