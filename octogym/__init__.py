"""octogym: Gymnasium environments over a fast batched model of the Octopus accelerator."""

# Choose OpenMP's wait policy before numba's or torch's pool loads (octogym/threads.py).
import octogym.threads as _threads  # noqa: F401

# Register the environments (octogym/TBUAssign-v0, ...) on import, idempotently; this names
# entry points only and imports no kernel code.
from octogym.envs.registration import register_envs as _register_envs

_register_envs()
