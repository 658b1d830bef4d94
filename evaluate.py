#!/usr/bin/env python
"""Compare schedulers and learned agents on fixed, seeded scenarios, or score agents on the
frozen benchmark (``--benchmark v1``): a thin wrapper over ``octogym.commands.evaluate``
(installed as ``octogym evaluate``; ``python evaluate.py --help`` for everything)."""

import sys

from octogym.commands.evaluate import main, parse_args  # noqa: F401  (the script's API)

if __name__ == "__main__":
    sys.exit(main())
