"""``ppo_native``: a compact masked PPO (CleanRL's layout, torch and numpy) that drives the
native vector env directly, no SB3 ``VecEnv`` in between (``train.py --algo ppo_native``;
docs/agents.md, "Fast training").

One iteration: ``n_steps`` vector steps of all ``n_envs`` members (one batched policy pass
and one Gumbel-max sample over the masked logits per step), GAE, then ``n_epochs`` passes of
minibatches of ``batch_size`` samples (clipped surrogate, value loss, entropy bonus, grad-norm
clip). Observations are already in ``[0, 1]`` and are not normalised; rewards are scaled by
the running standard deviation of the discounted return (``normalize:
dict(norm_reward=True)``, as ``VecNormalize`` does), which changes no optimum.

Variance-reduction and credit-assignment options (hyperparameters, all off by default, each
changes only the advantages / returns the update sees):

* ``time_discount: H`` (> 0): discount in simulated time rather than per decision: the step
  from decision time ``t`` to the next decision at ``t'`` is discounted by
  ``exp(-(t' - t) / (H * tau))`` (``tau``: the mix's mean TB duration), replacing ``gamma``;
  ``gae_lambda`` still applies per decision. Decisions come in bursts (many TBs ready at one
  cycle), so a per-decision ``gamma`` weighs a burst's decisions' futures unevenly.
* ``input_baseline: G`` (>= 2, dividing ``n_envs``): members ``g*G .. g*G+G-1`` are reset
  with one seed, so each group's replicas see the same arrivals, workflows and durations
  (episode ``k`` of every replica has the same seed). The advantage of member ``i`` at a
  decision at simulated time ``t`` of episode ``k`` becomes its GAE advantage minus the mean
  of the other replicas' GAE advantages at their decisions nearest before ``(k, t)``: an
  input-driven baseline (Mao et al., ICLR 2019) that removes the part of the advantage the
  shared inputs explain. It does not depend on member ``i``'s actions (the replicas act
  independently), so the policy gradient stays unbiased.
* ``shaping: c`` (> 0): potential-based shaping ``r + g * phi(s') - phi(s)`` with ``g`` the
  step's discount (``phi`` = 0 at the end of an episode), which leaves the optimal policy
  unchanged (Ng et al., 1999). ``phi(s) = -c * n(s) * work / (C * K * tau)``: minus the
  expected remaining work of the requests in the system, in the reward's units, where
  ``n(s)`` counts the requests in the system and each is charged the mix's expected work of
  one request (``work``, exact from the expected frequencies); the kernel does not track a
  request's progress, so work already done inside an open request is not subtracted.

Hyperparameters (``agents/hyperparams/ppo_native.yml``, rl-zoo3's form): the SB3 names
``n_envs, n_timesteps, policy, n_steps, batch_size, n_epochs, learning_rate, gamma,
gae_lambda, clip_range, ent_coef, vf_coef, max_grad_norm, target_kl, normalize,
policy_kwargs``, plus the three options above, ``torch_threads`` and ``curriculum`` (an
episode-length schedule, :mod:`octogym.agents.curriculum`). ``learning_rate`` may be
rl-zoo3's ``"lin_<x>"``: ``x`` decayed linearly to 0 over the run's ``--timesteps``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from octogym.agents.curriculum import Curriculum
from octogym.agents.ppo_policy import as_obs_dict


@dataclass
class PPOConfig:
    """The hyperparameters of :class:`NativePPO` (module docstring)."""

    n_envs: int = 256
    n_steps: int = 64
    batch_size: int = 4096
    n_epochs: int = 4
    learning_rate: float | str = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None
    norm_reward: bool = True
    time_discount: float = 0.0
    input_baseline: int = 0
    shaping: float = 0.0
    torch_threads: int = 1
    curriculum: list | None = None

    @classmethod
    def from_hyperparams(cls, hp: dict[str, Any], n_envs: int) -> PPOConfig:
        """From a hyperparameter file's entry (``load_hyperparams``); ``n_envs`` overrides
        its ``n_envs``. Keys the trainer does not use (``n_timesteps``, ``policy``,
        ``policy_kwargs``) are read elsewhere; others raise ``ValueError`` naming them."""
        names = {f.name for f in fields(cls)}
        skip = {"n_envs", "n_timesteps", "policy", "policy_kwargs", "normalize", "pretrain"}
        unknown = sorted(set(hp) - names - skip)
        if unknown:
            raise ValueError(f"ppo_native does not take hyperparameters {unknown}")
        kw = {k: v for k, v in hp.items() if k in names and k != "n_envs"}
        norm = hp.get("normalize", {"norm_reward": True})
        kw["norm_reward"] = bool(norm.get("norm_reward", True) if isinstance(norm, dict)
                                 else norm)
        if isinstance(norm, dict) and norm.get("norm_obs"):
            raise ValueError("ppo_native does not normalise observations (they are in [0, 1]); "
                             "set normalize: dict(norm_obs=False, norm_reward=True)")
        cfg = cls(n_envs=n_envs, **kw)
        cfg.check()
        return cfg

    def check(self) -> None:
        """``ValueError`` naming the first bad value."""
        def bad(name: str, what: str) -> ValueError:
            return ValueError(f"ppo_native: {name} {what}, got {getattr(self, name)!r}")
        for name in ("n_envs", "n_steps", "batch_size", "n_epochs", "torch_threads"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise bad(name, "must be an integer >= 1")
        if not 0 < self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ValueError("ppo_native: gamma must be in (0, 1] and gae_lambda in [0, 1]")
        lr = self.learning_rate
        if isinstance(lr, str):
            try:
                ok = lr.startswith("lin_") and float(lr[4:]) > 0
            except ValueError:
                ok = False
            if not ok:
                raise bad("learning_rate", "must be a number > 0 or 'lin_<number>'")
        elif not lr > 0:
            raise bad("learning_rate", "must be > 0")
        if self.time_discount < 0 or self.shaping < 0:
            raise ValueError("ppo_native: time_discount and shaping must be >= 0 (0 = off)")
        if self.curriculum is not None:
            Curriculum(self.curriculum)
        g = self.input_baseline
        if g != 0 and (g < 2 or self.n_envs % g):
            raise bad("input_baseline", f"must be 0 (off) or a group size >= 2 dividing "
                      f"n_envs = {self.n_envs}")


class RunningStd:
    """Running variance of the discounted return per member, to scale rewards (SB3's
    ``VecNormalize(norm_reward=True)``: Chan et al.'s parallel update, clip 10)."""

    def __init__(self, n: int) -> None:
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4
        self.ret = np.zeros(n)

    def scale(self, reward: np.ndarray, discount: np.ndarray, done: np.ndarray) -> np.ndarray:
        self.ret = self.ret * discount + reward
        x = self.ret
        bm, bv, bc = float(x.mean()), float(x.var()), x.size
        delta, tot = bm - self.mean, self.count + bc
        self.mean += delta * bc / tot
        self.var = (self.var * self.count + bv * bc + delta**2 * self.count * bc / tot) / tot
        self.count = tot
        self.ret[done] = 0.0
        return np.clip(reward / math.sqrt(self.var + 1e-8), -10.0, 10.0)


def gae(rewards: torch.Tensor, values: torch.Tensor, last_value: torch.Tensor,
        dones: torch.Tensor, discounts: torch.Tensor, lam: float) -> torch.Tensor:
    """Advantages ``(T, N)``: ``delta_t = r_t + g_t (1 - d_t) V_{t+1} - V_t`` and
    ``A_t = delta_t + g_t lam (1 - d_t) A_{t+1}``, with per-step discounts ``g_t``."""
    T = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(last_value)
    for t in reversed(range(T)):
        nxt = last_value if t == T - 1 else values[t + 1]
        keep = discounts[t] * (1.0 - dones[t])
        delta = rewards[t] + keep * nxt - values[t]
        last = delta + keep * lam * last
        adv[t] = last
    return adv


def replica_baseline(adv: np.ndarray, episode: np.ndarray, times: np.ndarray,
                     group: int) -> np.ndarray:
    """``adv`` ``(T, N)`` minus, for each member, the mean over the other members of its
    replica group (members ``g*group .. g*group+group-1``) of their advantages at their own
    decisions nearest before the same (episode, simulated time); module docstring."""
    T, N = adv.shape
    key = episode.astype(np.float64) * 2.0**40 + times  # (episode, time), ordered
    out = adv.copy()
    for g0 in range(0, N, group):
        members = range(g0, g0 + group)
        base = np.zeros((T, group))
        for a, i in enumerate(members):
            for j in members:
                if j == i:
                    continue
                # key[:, j] increases along the rollout (episodes, then time within one)
                k = np.searchsorted(key[:, j], key[:, i], side="right") - 1
                base[:, a] += adv[np.clip(k, 0, T - 1), j]
        out[:, g0:g0 + group] -= base / (group - 1)
    return out


class NativePPO:
    """Masked PPO over an octogym native vector env ``venv`` (autoreset ``SAME_STEP``) with
    ``policy`` (``policy(obs_dict, mask) -> (logits, value)``, ``octogym.agents.ppo_policy``).
    Seeded by ``seed``: parameters (the caller seeds torch before building the policy), the
    members' seeds (``seed + i``, or ``seed + g`` for replica group ``g``) and every
    action sample (a torch generator), so one seed gives the same weights."""

    def __init__(self, venv: Any, policy: torch.nn.Module, cfg: PPOConfig, seed: int) -> None:
        if venv.num_envs != cfg.n_envs:
            raise ValueError(f"the env has {venv.num_envs} members, n_envs is {cfg.n_envs}")
        self.venv, self.policy, self.cfg, self.seed = venv, policy, cfg, seed
        lr = cfg.learning_rate
        self.lr0 = float(lr[4:]) if isinstance(lr, str) else float(lr)
        self.lr_decays = isinstance(lr, str)
        self.opt = torch.optim.Adam(policy.parameters(), lr=self.lr0, eps=1e-5)
        self.gen = torch.Generator().manual_seed(seed)
        self.num_timesteps = 0
        self.reward_std = RunningStd(cfg.n_envs)
        core = venv.core
        self.tau, self.work, self.CK = core.tau, core.work, core.C * core.K
        self.ep_returns: deque[float] = deque(maxlen=100)
        self.ep_latency: deque[float] = deque(maxlen=100)
        self._ret = np.zeros(cfg.n_envs)
        self.obs: dict[str, np.ndarray] | None = None
        self.curriculum = None if cfg.curriculum is None else Curriculum(cfg.curriculum)
        self.episode_requests: int | None = None  # the curriculum's current length
        self.apply_curriculum()  # before the first reset; a too-long stage fails here

    def apply_curriculum(self) -> None:
        """Give the env the episode length the curriculum sets at ``num_timesteps``
        (agents/curriculum.py; between rollouts)."""
        if self.curriculum is not None:
            n = self.curriculum.requests_at(self.num_timesteps)
            if n != self.episode_requests:
                self.venv.set_requests_per_episode(n)
                self.episode_requests = n

    # ---- seeds and state read-outs ---------------------------------------------------------
    def member_seeds(self) -> list[int]:
        """Member ``i``'s seed: ``seed + i``; replicas of group ``g`` share ``seed + g``."""
        G = self.cfg.input_baseline
        return [self.seed + (i // G if G else i) for i in range(self.cfg.n_envs)]

    def reset(self) -> None:
        obs, info = self.venv.reset(seed=self.member_seeds())
        self.obs, self.mask, self.time = as_obs_dict(obs), info["action_mask"], info["time"]

    def potential(self) -> np.ndarray:
        """``phi(s)`` of every member at its pending decision (module docstring)."""
        from octogym.kernel import fields as L
        SC = self.venv.core.sim.state.SC
        n = (SC[:, L.SC_N_ARRIVED] - SC[:, L.SC_N_DONE]).astype(np.float64)
        return -self.cfg.shaping * n * self.work / (self.CK * self.tau)

    # ---- one iteration ---------------------------------------------------------------------
    def collect(self) -> dict[str, Any]:
        """``n_steps`` vector steps; returns the rollout (torch tensors, ``(T, N, ...)``)."""
        cfg, venv, pol = self.cfg, self.venv, self.policy
        T, N = cfg.n_steps, cfg.n_envs
        if self.obs is None:
            self.reset()
        buf_obs = {k: torch.zeros((T, *v.shape), dtype=torch.float32)
                   for k, v in self.obs.items()}
        masks = torch.zeros((T, *self.mask.shape), dtype=torch.bool)
        actions = torch.zeros((T, N), dtype=torch.long)
        logps, values = torch.zeros((T, N)), torch.zeros((T, N))
        rewards, dones, discounts = np.zeros((T, N)), np.zeros((T, N)), np.ones((T, N))
        times, episodes = np.zeros((T, N)), np.zeros((T, N))
        phi = self.potential() if cfg.shaping else None
        for t in range(T):
            x = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in self.obs.items()}
            m = torch.from_numpy(self.mask)
            with torch.no_grad():
                logits, v = pol(x, m)
                logits = logits.masked_fill(~m, -torch.inf)
                u = torch.rand(logits.shape, generator=self.gen).clamp_min(1e-20)
                a = (logits - torch.log(-torch.log(u))).argmax(-1)
                logp = torch.log_softmax(logits, -1).gather(1, a[:, None]).squeeze(1)
            for k in x:
                buf_obs[k][t] = x[k]
            masks[t], actions[t], logps[t], values[t] = m, a, logp, v
            times[t], episodes[t] = self.time, venv.core.episode
            obs, r, term, trunc, info = venv.step(a.numpy())
            done = term | trunc
            self.num_timesteps += N
            self._ret += r
            now = info["time"]
            # per-step discount: per decision, or in simulated time (module docstring)
            if cfg.time_discount:
                g = np.exp(-np.maximum(now - self.time, 0) / (cfg.time_discount * self.tau))
            else:
                g = np.full(N, cfg.gamma)
            rew = r.astype(np.float64)
            if done.any():
                fin = info["final_info"]
                for b in np.flatnonzero(done):
                    self.ep_returns.append(float(self._ret[b]))
                    self.ep_latency.append(float(fin["metrics"]["latency_mean"][b]) / 1000.0)
                self._ret[done] = 0.0
                rew = rew + self._bootstrap_truncated(info, term, trunc, g)
            if cfg.shaping:
                phi_next = self.potential()
                rew = rew + g * np.where(done, 0.0, phi_next) - phi
                phi = phi_next
            if cfg.norm_reward:
                rew = self.reward_std.scale(rew, g, done)
            rewards[t], dones[t], discounts[t] = rew, done, g
            self.obs, self.mask, self.time = as_obs_dict(obs), info["action_mask"], now
        with torch.no_grad():
            x = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in self.obs.items()}
            _, last_value = pol(x, torch.from_numpy(self.mask))
        return {"obs": buf_obs, "masks": masks, "actions": actions, "logps": logps,
                "values": values, "rewards": torch.from_numpy(rewards).float(),
                "dones": torch.from_numpy(dones).float(),
                "discounts": torch.from_numpy(discounts).float(), "last_value": last_value,
                "times": times, "episodes": episodes}

    def _bootstrap_truncated(self, info: dict[str, Any], term: np.ndarray, trunc: np.ndarray,
                             g: np.ndarray) -> np.ndarray:
        """``g * V(last obs)`` for members cut by ``max_steps`` (not terminated), else 0."""
        extra = np.zeros(len(term))
        rows = np.flatnonzero(trunc & ~term)
        if rows.size:
            last = [as_obs_dict(info["final_obs"][b]) for b in rows]
            x = {k: torch.as_tensor(np.stack([o[k] for o in last]), dtype=torch.float32)
                 for k in last[0]}
            with torch.no_grad():
                last_mask = np.asarray(info["final_info"]["action_mask"][rows], bool)
                _, v = self.policy(x, torch.from_numpy(last_mask))
            # the critic predicts scaled returns; the raw reward needs raw units
            unscale = math.sqrt(self.reward_std.var + 1e-8) if self.cfg.norm_reward else 1.0
            extra[rows] = g[rows] * v.numpy() * unscale
        return extra

    def update(self, roll: dict[str, Any]) -> dict[str, float]:
        """GAE, the options, then ``n_epochs`` of minibatch PPO updates; returns statistics."""
        cfg, pol = self.cfg, self.policy
        adv = gae(roll["rewards"], roll["values"], roll["last_value"], roll["dones"],
                  roll["discounts"], cfg.gae_lambda)
        returns = adv + roll["values"]
        if cfg.input_baseline:
            adv = torch.from_numpy(replica_baseline(adv.numpy(), roll["episodes"],
                                                    roll["times"], cfg.input_baseline)).float()
        n = adv.numel()
        flat = {k: v.reshape(n, *v.shape[2:]) for k, v in roll["obs"].items()}
        masks = roll["masks"].reshape(n, -1)
        actions, old_logp = roll["actions"].reshape(n), roll["logps"].reshape(n)
        adv, returns = adv.reshape(n), returns.reshape(n)
        stats: dict[str, list[float]] = {"policy_loss": [], "value_loss": [], "entropy": [],
                                         "approx_kl": [], "clip_fraction": []}
        mb = min(cfg.batch_size, n)
        for _ in range(cfg.n_epochs):
            perm = torch.randperm(n, generator=self.gen)
            for s in range(0, n - mb + 1, mb):
                idx = perm[s:s + mb]
                m = masks[idx]
                logits, v = pol({k: x[idx] for k, x in flat.items()}, m)
                logp_all = torch.log_softmax(logits.masked_fill(~m, -torch.inf), -1)
                logp = logp_all.gather(1, actions[idx, None]).squeeze(1)
                p = logp_all.exp()
                entropy = -(p * logp_all.masked_fill(~m, 0.0)).sum(-1).mean()
                a = adv[idx]
                a = (a - a.mean()) / (a.std() + 1e-8)
                log_ratio = logp - old_logp[idx]
                ratio = log_ratio.exp()
                pg = torch.max(-a * ratio,
                               -a * ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range)).mean()
                vl = 0.5 * (v - returns[idx]).pow(2).mean()
                loss = pg + cfg.vf_coef * vl - cfg.ent_coef * entropy
                self.opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(pol.parameters(), cfg.max_grad_norm)
                self.opt.step()
                with torch.no_grad():
                    kl = float(((ratio - 1) - log_ratio).mean())
                    stats["approx_kl"].append(kl)
                    stats["clip_fraction"].append(
                        float(((ratio - 1).abs() > cfg.clip_range).float().mean()))
                stats["policy_loss"].append(float(pg.detach()))
                stats["value_loss"].append(float(vl.detach()))
                stats["entropy"].append(float(entropy.detach()))
            if cfg.target_kl is not None and np.mean(stats["approx_kl"][-1:]) > cfg.target_kl:
                break
        out = {k: float(np.mean(v)) for k, v in stats.items()}
        var_y = float(returns.var())
        out["explained_variance"] = (float("nan") if var_y == 0 else
                                     1 - float((returns - roll["values"].reshape(n)).var())
                                     / var_y)
        return out

    def learn(self, total: int, on_iteration: Any = None) -> None:
        """Iterate until ``num_timesteps >= total``; ``on_iteration(self, stats)`` after each
        (logging, checkpoints, held-out evaluation; a true return stops early)."""
        while self.num_timesteps < total:
            if self.lr_decays:  # "lin_<x>": x times the fraction of the run still ahead
                frac = 1.0 - self.num_timesteps / max(total, 1)
                for group in self.opt.param_groups:
                    group["lr"] = self.lr0 * frac
            self.apply_curriculum()
            t0 = time.perf_counter()
            roll = self.collect()
            t1 = time.perf_counter()
            stats = self.update(roll)
            stats["collect_s"], stats["update_s"] = t1 - t0, time.perf_counter() - t1
            if on_iteration is not None and on_iteration(self, stats):
                return

    def payload(self) -> dict[str, Any]:
        """What a checkpoint holds besides the policy spec (``ppo_policy.save_native``)."""
        rs = self.reward_std
        return {"state_dict": self.policy.state_dict(), "optimizer": self.opt.state_dict(),
                "timesteps": int(self.num_timesteps),
                "reward_rms": {"mean": rs.mean, "var": rs.var, "count": rs.count},
                "generator": self.gen.get_state()}

    def restore(self, payload: dict[str, Any]) -> None:
        """Continue from a checkpoint's :meth:`payload` (``train.py --resume``): weights,
        optimiser state, step count, reward scale and the action-sampling generator (absent
        from checkpoints written before it was saved: the run's seed then). The members
        start new episodes from their seeds (the envs' states are not saved)."""
        self.policy.load_state_dict(payload["state_dict"])
        self.opt.load_state_dict(payload["optimizer"])
        self.num_timesteps = int(payload["timesteps"])
        rms = payload["reward_rms"]
        rs = self.reward_std
        rs.mean, rs.var, rs.count = float(rms["mean"]), float(rms["var"]), float(rms["count"])
        if "generator" in payload:
            self.gen.set_state(payload["generator"])
        self.obs = None


def held_out_native(policy: torch.nn.Module, env_id: str, env_kwargs: dict[str, Any],
                    episodes: int) -> list[float]:
    """Mean latency (us) of the deterministic (argmax) policy in each of ``episodes`` held-out
    episodes (``heldout.play_held_out``: member ``j`` of a native vector env reset with seed
    ``EVAL_SEED + j``, what the single env reset with that seed plays: the episodes of
    ``heldout.reference_latency``)."""
    from octogym.agents.heldout import play_held_out
    from octogym.agents.ppo_policy import policy_actions

    lat = play_held_out(env_id, lambda obs, masks, venv: policy_actions(policy, obs, masks),
                        episodes, **env_kwargs)
    return [float(x) for x in lat]
