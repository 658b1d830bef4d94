"""Threading configurations of the native vector env, side by side: env steps per second of
``TBUAssign-v0`` (``vectorization_mode="vector_entry_point"``, N = 64 and 1024: threaded
steps from ``octogym.envs.core.PARALLEL_MIN`` on) in three situations:

* ``alone``: the env stepped in a loop;
* ``torch``: each step followed by a forward and backward pass of a small MLP (obs -> 64 ->
  64 -> actions) on the observation batch, as a user's own torch loop would;
* ``busy``: the env alone while another process (a spinning child started here, killed at the
  end) keeps one core busy.

Each configuration runs in its own fresh child process, since OpenMP and numba read their
environment variables when their libraries load. Configurations:

* ``default``: octogym as shipped (``octogym/threads.py``: ``OMP_WAIT_POLICY=PASSIVE`` set at
  import), torch imported after octogym;
* ``active``: ``OMP_WAIT_POLICY=ACTIVE`` (OpenMP threads spin at barriers; GNU OpenMP with no
  policy set spins for a while before sleeping; octogym then steps serially);
* ``torch-first``: the default, with torch imported before octogym (octogym's import-time
  setting comes too late for the OpenMP runtime torch loaded: octogym then steps serially);
* ``torch-first+...``: the same, combined with another configuration;
* ``workqueue``: numba's ``workqueue`` threading layer (``NUMBA_THREADING_LAYER``);
* ``serial``: every batch stepped on one thread (``NUMBA_NUM_THREADS=1``);
* ``torch1``: the default, with ``torch.set_num_threads(1)`` (as ``train.py`` does; it only
  changes the ``torch`` situation).

A ``WARN`` line is printed for every figure more than ``--cliff`` times slower than the best
configuration in the same situation and N (the 10-40x cliffs of spinning thread pools).

    python benchmarks/bench_threads.py --seconds 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ENV_ID = "octogym/TBUAssign-v0"
SIZES = (64, 1024)
SITUATIONS = ("alone", "torch", "busy")
TORCH_FIRST, TORCH1 = "torch-first", "torch1"
CONFIGS: dict[str, tuple[dict[str, str], set[str]]] = {
    # name: (environment variables, {TORCH_FIRST, TORCH1} flags)
    "default": ({}, set()),
    "active": ({"OMP_WAIT_POLICY": "ACTIVE"}, set()),
    "workqueue": ({"NUMBA_THREADING_LAYER": "workqueue"}, set()),
    "serial": ({"NUMBA_NUM_THREADS": "1"}, set()),
    "torch1": ({}, {TORCH1}),
    "torch-first": ({}, {TORCH_FIRST}),
    "torch-first+wq": ({"NUMBA_THREADING_LAYER": "workqueue"}, {TORCH_FIRST}),
    "torch-first+passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, {TORCH_FIRST}),
    "torch-first+torch1": ({}, {TORCH_FIRST, TORCH1}),
}
SPIN = "while True: pass"


def steps_per_second(venv, n: int, seconds: float, net=None) -> float:
    """Env steps (members x calls) per second, after a warm-up; ``net`` (a torch module) runs
    forward and backward on each step's observations."""
    import numpy as np
    actions = np.random.default_rng(0).integers(0, venv.single_action_space.n, (16, n))
    obs, _ = venv.reset(seed=0)

    def one(k: int):
        o, *_ = venv.step(actions[k % 16])
        if net is not None:
            import torch
            net(torch.as_tensor(o)).sum().backward()
        return o

    for k in range(5):  # warm-up: compile, pool start
        one(k)
    k, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        one(k)
        k += 1
    return k * n / (time.perf_counter() - t0)


def child(config: str, seconds: float) -> None:
    """Measure every (situation, N) of one configuration; print one JSON line."""
    flags = CONFIGS[config][1]
    if TORCH_FIRST in flags:
        import torch  # noqa: F401  (before octogym, on purpose)
    import importlib

    import gymnasium as gym
    import numba

    import octogym  # noqa: F401  (registers the ids; chooses OpenMP's wait policy)
    torch = importlib.import_module("torch")  # after octogym (unless TORCH_FIRST)
    if TORCH1 in flags:
        torch.set_num_threads(1)
    out: dict[str, float | str] = {}
    for n in SIZES:
        venv = gym.make_vec(ENV_ID, num_envs=n, vectorization_mode="vector_entry_point")
        obs_dim, n_act = venv.single_observation_space.shape[0], venv.single_action_space.n
        net = torch.nn.Sequential(torch.nn.Linear(obs_dim, 64), torch.nn.Tanh(),
                                  torch.nn.Linear(64, 64), torch.nn.Tanh(),
                                  torch.nn.Linear(64, n_act))
        out[f"alone/{n}"] = steps_per_second(venv, n, seconds)
        out[f"torch/{n}"] = steps_per_second(venv, n, seconds, net)
        spinner = subprocess.Popen([sys.executable, "-c", SPIN])
        try:
            time.sleep(0.2)
            out[f"busy/{n}"] = steps_per_second(venv, n, seconds)
        finally:
            spinner.kill()
            spinner.wait()
        venv.close()
    try:
        out["layer"] = numba.threading_layer()
    except ValueError:
        out["layer"] = "none"  # no parallel call was made
    out["omp_wait"] = os.environ.get("OMP_WAIT_POLICY", "")
    print(json.dumps(out), flush=True)


def run(config: str, seconds: float) -> dict:
    env = {**os.environ, **CONFIGS[config][0]}
    done = subprocess.run([sys.executable, __file__, "--child", config, "--seconds",
                           str(seconds)], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"configuration {config!r} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=1.0, help="per measured figure")
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--cliff", type=float, default=3.0,
                   help="WARN when a figure is this many times slower than the best")
    p.add_argument("--child", choices=list(CONFIGS), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(a.child, a.seconds)
        return
    res = {c: run(c, a.seconds) for c in a.configs}
    keys = [f"{s}/{n}" for n in SIZES for s in SITUATIONS]
    print(f"{ENV_ID}, native vector env, steps/s (ratio to the best in the column); "
          f"{os.cpu_count()} CPUs")
    print(f"{'config':<19} {'layer':<10} " + " ".join(f"{k:>20}" for k in keys))
    best = {k: max(r[k] for r in res.values()) for k in keys}
    for c, r in res.items():
        cells = " ".join(f"{r[k]:>11,.0f} ({r[k] / best[k]:.2f})" for k in keys)
        print(f"{c:<19} {r['layer']:<10} {cells}")
    for c, r in res.items():
        for k in keys:
            if r[k] * a.cliff < best[k]:
                print(f"WARN {c} {k}: {r[k]:,.0f} steps/s is {best[k] / r[k]:.1f}x slower than "
                      f"the best ({best[k]:,.0f})")


if __name__ == "__main__":
    main()
