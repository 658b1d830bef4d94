"""The callbacks of ``train.py`` (stable-baselines3 ``BaseCallback``): progress bar and steps
per second, periodic checkpoints, held-out evaluation."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from octogym.agents.heldout import held_out_latency


def next_multiple(n: int, every: int) -> int:
    """The first multiple of ``every`` above ``n``."""
    return (n // every + 1) * every


class Progress(BaseCallback):
    """tqdm bar over env steps up to ``total`` (``show=False``: one printed line per rollout
    instead) and steps per second, logged as ``time/steps_per_second`` at every rollout and
    printed at the end."""

    def __init__(self, total: int, show: bool = True) -> None:
        super().__init__()
        self.total, self.show = total, show

    def _steps_per_second(self) -> float:
        return (self.model.num_timesteps - self.n0) / (time.perf_counter() - self.t0)

    def _on_training_start(self) -> None:
        from tqdm import tqdm
        self.bar = tqdm(total=self.total, initial=self.model.num_timesteps, unit="step",
                        disable=not self.show, dynamic_ncols=True)
        self.t0, self.n0 = time.perf_counter(), self.model.num_timesteps

    def _on_step(self) -> bool:
        self.bar.update(self.model.num_timesteps - self.bar.n)
        return True

    def _on_rollout_end(self) -> None:
        sps = self._steps_per_second()
        self.logger.record("time/steps_per_second", sps)
        self.bar.set_postfix(sps=f"{sps:,.0f}")
        if not self.show:
            print(f"steps {self.model.num_timesteps:,}  sps {sps:,.0f}", flush=True)

    def _on_training_end(self) -> None:
        self.bar.close()
        print(f"train.py: {self.model.num_timesteps:,} steps, "
              f"{self._steps_per_second():,.0f} steps/s")


class Checkpoint(BaseCallback):
    """``save(num_timesteps)`` each time the step count crosses a multiple of ``every``
    (checked every vector step)."""

    def __init__(self, every: int, save: Callable[[int], Any]) -> None:
        super().__init__()
        self.every, self.save = every, save

    def _on_training_start(self) -> None:
        self.next = next_multiple(self.model.num_timesteps, self.every)

    def _on_step(self) -> bool:
        if self.model.num_timesteps >= self.next:
            self.save(self.model.num_timesteps)
            self.next = next_multiple(self.model.num_timesteps, self.every)
        return True


class HeldOut(BaseCallback):
    """Every ``every`` steps (and at the start and the end; never if ``every`` is 0): mean
    latency of the deterministic policy on ``episodes`` held-out episodes
    (:func:`~octogym.agents.heldout.held_out_latency`), logged as ``eval/latency_mean_us``
    and appended to ``csv_path``."""

    HEADER = "timesteps,latency_mean_us,latency_std_us,episodes\n"

    def __init__(self, every: int, episodes: int, env_id: str, env_kwargs: dict[str, Any],
                 venv: Any, csv_path: Path) -> None:
        super().__init__()
        self.every, self.episodes = every, episodes
        self.env_id, self.env_kwargs, self.venv, self.path = env_id, env_kwargs, venv, csv_path

    def _on_training_start(self) -> None:
        self.next, self.last = self.model.num_timesteps, None
        if self.every > 0 and not self.path.is_file():
            self.path.write_text(self.HEADER)
        self._on_step()

    def _on_training_end(self) -> None:  # the final model too
        if self.every > 0 and self.last != self.model.num_timesteps:
            self.next = self.model.num_timesteps
            self._on_step()

    def _on_step(self) -> bool:
        if self.every > 0 and self.model.num_timesteps >= self.next:
            self.last = self.model.num_timesteps
            lat = held_out_latency(self.model, self.venv, self.env_id, self.env_kwargs,
                                   self.episodes)
            self.logger.record("eval/latency_mean_us", float(np.mean(lat)))
            with self.path.open("a") as f:
                f.write(f"{self.model.num_timesteps},{np.mean(lat):.3f},"
                        f"{np.std(lat):.3f},{len(lat)}\n")
            self.next = next_multiple(self.model.num_timesteps, self.every)
        return True
