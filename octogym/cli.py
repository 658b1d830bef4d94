"""The ``octogym`` console script: ``octogym bench|evaluate|train [options]``.

Installed with the package (``[project.scripts]``), so a wheel is usable without the
repository's scripts. Each subcommand is the ``main`` of :mod:`octogym.commands` (``octogym
<command> --help`` for its options); ``python evaluate.py`` / ``python train.py`` in the
repository are the same commands.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {"bench": "score agents on the frozen benchmark (octogym-bench)",
            "evaluate": "compare schedulers and learned agents on the evaluation scenarios",
            "train": "train a learned scheduling agent"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: octogym {" + ",".join(COMMANDS) + "} [options]\n")
        for name, what in COMMANDS.items():
            print(f"  {name:9s} {what}")
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"octogym: error: unknown command {argv[0]!r}; one of {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    mod = importlib.import_module(f"octogym.commands.{argv[0]}")
    return int(mod.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
