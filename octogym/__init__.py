"""octogym: Gymnasium environments over a fast batched model of the Octopus accelerator."""

# Register the environments (octogym/TBUAssign-v0, ...) on import, idempotently; this names
# entry points only and imports no kernel code.
from octogym.envs.registration import register_envs as _register_envs

_register_envs()
