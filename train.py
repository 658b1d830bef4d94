#!/usr/bin/env python
"""Train a learned scheduling agent (PPO / MaskablePPO) on an octogym environment.

Not available yet: the Gymnasium environments and the training loop are being built (open
issues "Gymnasium environments ..." and "Agents, train.py, evaluate.py ..."). This script
exits with status 2 and says so, rather than pretending to train.
"""

import sys

if __name__ == "__main__":
    print("train.py: not available yet - the octogym environments and trainer are still being "
          "built (see the project's open issues).", file=sys.stderr)
    sys.exit(2)
