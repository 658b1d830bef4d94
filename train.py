#!/usr/bin/env python
"""Train a learned scheduling agent: a thin wrapper over ``octogym.commands.train``
(installed as ``octogym train``; ``python train.py --help`` for everything)."""

import sys

from octogym.commands.train import *  # noqa: F403  (the script's API: Args, parse_args, ...)
from octogym.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
