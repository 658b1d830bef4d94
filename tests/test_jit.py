"""The kernel's compile modes (``octogym/kernel/jit.py``): the default inlines the event-loop
steps at the LLVM level, ``calls`` keeps them as calls, and an unknown mode is refused by name.
(Speed is measured in ``benchmarks/bench_kernel.py --inline-modes``, not here.)"""

from __future__ import annotations

import os
import subprocess
import sys

SHOW_STEP = ("from octogym.kernel import jit, loop; "
             "print(jit.INLINE, loop.on_tb_done.targetoptions['forceinline'])")


def _import_jit(mode: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OCTOGYM_KERNEL_INLINE"}
    if mode is not None:
        env["OCTOGYM_KERNEL_INLINE"] = mode
    return subprocess.run([sys.executable, "-c", SHOW_STEP], env=env, capture_output=True,
                          text=True)


def test_default_mode_inlines_steps_at_the_llvm_level():
    assert _import_jit(None).stdout.split() == ["llvm", "True"]
    assert _import_jit("").stdout.split() == ["llvm", "True"]


def test_calls_mode_keeps_steps_as_calls():
    assert _import_jit("calls").stdout.split() == ["calls", "False"]


def test_unknown_mode_is_refused_by_name():
    r = _import_jit("all")
    assert r.returncode != 0
    assert "OCTOGYM_KERNEL_INLINE must be one of ('llvm', 'calls'), got 'all'" in r.stderr
