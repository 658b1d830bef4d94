"""Seeded random Orchestrated Workflow Graphs (OWGs) with size and dynamicity knobs.

Jumanji style: a :class:`WorkflowGenerator` is a callable ``generator(rng) -> Workflow``;
:class:`RandomWorkflowGenerator` wraps a :class:`GeneratorConfig`, and :func:`toy_chain` is a
tiny known-answer instance (a linear chain of fixed-duration tasks: every task runs exactly once
per request, so a request's work is ``n * duration``).

Valid by construction. A workflow is a *sequence* of elements, each with one entry and a list of
open exits that the next element's entry receives a flow from:

* ``task``  - one task block;
* ``branch`` - a branch CB with 2..``max_branch_arms`` alternatives (each a sub-sequence). The
  alternatives reconverge on the next element, except that one may be empty (the branch flows
  straight to the next element) and some may *end* the request instead (their exits get no
  flow);
* ``loop`` - a sub-sequence followed by a branch CB with a back-edge to the sub-sequence's entry
  (continue probability below ``max_continue``) and a flow onward: a geometric trip count;
* ``fork`` - a fork CB, 2..``max_fork_arms`` parallel arms (sub-sequences with exactly one exit
  that never end the request early), and a join with one incoming flow per arm;
* ``map``  - a map CB whose body is a fresh sub-sequence with no flow out of it (each copy ends
  where the body ends); the map's own exit continues the sequence.

So every task/map/join has at most one outgoing flow, a branch's ``probs`` keys are its flows,
every cycle passes through a loop's branch, joins only follow forks and always receive one token
per arm, and a map body never reaches its map. The task count is exactly the drawn ``n_tasks``
(tail and merge tasks the construction needs come out of that budget). The result still goes
through :meth:`Workflow.from_dict`, so it is always fully validated.

All randomness comes from the ``numpy.random.Generator`` passed in; the same generator state and
config give the same workflow. The knob defaults below are ours.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from octogym.limits import MAX_MAP_COUNT
from octogym.workflows.distributions import max_count_mean
from octogym.workflows.model import Workflow

IntRange = int | tuple[int, int]

# Smallest probability of a generated branch alternative (ours): every path stays exercised.
MIN_BRANCH_PROB = 0.02
# Smallest continue probability of a generated loop (ours).
MIN_CONTINUE = 0.05
# Relative weights of the duration families when ``duration_spread > 0`` (ours).
_DURATION_FAMILIES = ("fixed", "uniform", "lognormal", "bimodal", "empirical")
_DURATION_WEIGHTS = np.array([0.1, 0.2, 0.4, 0.15, 0.15])
_COUNT_FAMILIES = ("poisson", "geometric", "fixed", "empirical")


@dataclass(frozen=True)
class GeneratorConfig:
    """Knobs of :func:`generate_workflow`. Ranges are ``(low, high)`` inclusive, or one int.

    Element densities are the chances that one element of a sequence is a branch / fork / map
    (the rest are plain tasks); they must sum to at most 1.
    """

    n_tasks: IntRange = (4, 12)
    """Number of task blocks, exactly (drawn uniformly from the range)."""
    n_configs: IntRange = (1, 4)
    """Number of PEA configurations; every one is used when there are enough tasks."""
    branch_density: float = 0.2
    """Chance an element is a branch CB (a plain branch, or a loop: see ``loop_probability``)."""
    map_density: float = 0.1
    """Chance an element is a map CB with a body sub-sequence."""
    fork_density: float = 0.1
    """Chance an element is a fork/join block with parallel arms."""
    loop_probability: float = 0.3
    """Chance a branch element is a loop (its branch gets a back-edge) rather than a choice."""
    max_continue: float = 0.6
    """Largest continue probability of a loop (drawn in ``[0.05, max_continue]``)."""
    exit_probability: float = 0.15
    """Chance a branch alternative ends the request instead of reconverging (never in a fork
    arm, where the join needs its token)."""
    skip_probability: float = 0.25
    """Chance a branch has an empty alternative that goes straight to its successor."""
    max_branch_arms: int = 3
    """Most alternatives of a plain branch (>= 2)."""
    max_fork_arms: int = 3
    """Most parallel arms of a fork (>= 2)."""
    max_depth: int = 3
    """Deepest nesting of branches / loops / forks / maps (0: a linear chain of tasks)."""
    duration_spread: float = 0.5
    """Largest coefficient of variation of a task's duration law; each task draws its cv in
    ``[0, duration_spread]``. 0 makes every duration ``fixed``."""
    mean_duration: IntRange = (1_000, 100_000)
    """Mean cycles of a task's duration (log-uniform in the range)."""
    max_map_count: int = 4
    """Largest mean fan-out of a map (and largest value of a fixed/empirical count)."""
    n_phases: IntRange = 0
    """Number of drift phases (emitted only if the workflow has a branch or a map)."""
    phase_length: IntRange = (200, 2_000)
    """Requests between consecutive phases (``after_requests`` increases by this much)."""
    drift_fraction: float = 0.5
    """Chance each branch/map changes in a phase (at least one changes)."""
    bytes: IntRange = (256, 1 << 20)
    """Bytes of a task's output and of a flow (log-uniform when the low end is > 0)."""
    cb_cost: IntRange = (10, 100)
    """CBU cycles of a control block."""
    ai_fraction: float = 0.75
    """Chance a PEA configuration is an AI model (``kind: ai``) rather than general work."""

    def __post_init__(self) -> None:
        for name in ("n_tasks", "n_configs", "mean_duration", "phase_length"):
            _as_range(getattr(self, name), name, 1)
        for name in ("n_phases", "bytes", "cb_cost"):
            _as_range(getattr(self, name), name, 0)
        for name in ("branch_density", "map_density", "fork_density", "loop_probability",
                     "exit_probability", "skip_probability", "ai_fraction"):
            _check_prob(getattr(self, name), name)
        total = self.branch_density + self.map_density + self.fork_density
        if total > 1.0 + 1e-12:
            raise ValueError(
                "GeneratorConfig: branch_density + map_density + fork_density must be <= 1, "
                f"got {total:g}"
            )
        _check_prob(self.max_continue, "max_continue")
        if not MIN_CONTINUE <= self.max_continue < 1.0:
            raise ValueError(
                f"GeneratorConfig.max_continue must be in [{MIN_CONTINUE}, 1) so loops exit, "
                f"got {self.max_continue}"
            )
        _check_prob(self.drift_fraction, "drift_fraction")
        if self.drift_fraction == 0:
            raise ValueError("GeneratorConfig.drift_fraction must be > 0")
        for name, lo in (("max_branch_arms", 2), ("max_fork_arms", 2), ("max_depth", 0),
                         ("max_map_count", 1)):
            _check_int(getattr(self, name), name, lo)
        if self.max_map_count > MAX_MAP_COUNT:
            raise ValueError(f"GeneratorConfig.max_map_count must be <= {MAX_MAP_COUNT} (the "
                             f"largest map fan-out), got {self.max_map_count}")
        s = self.duration_spread
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) \
                or s < 0:
            raise ValueError(
                f"GeneratorConfig.duration_spread must be a finite number >= 0, got {s!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_int(v: Any, name: str, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ValueError(f"GeneratorConfig.{name} must be an integer, got {v!r}")
    if v < lo:
        raise ValueError(f"GeneratorConfig.{name} must be >= {lo}, got {v}")
    return int(v)


def _check_prob(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
        raise ValueError(f"GeneratorConfig.{name} must be a number in [0, 1], got {v!r}")
    return float(v)


def _as_range(v: Any, name: str, lo: int) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"GeneratorConfig.{name} must be an int or a (low, high) pair, "
                             f"got {v!r}")
        a, b = (_check_int(x, name, lo) for x in v)
        if a > b:
            raise ValueError(f"GeneratorConfig.{name}: low {a} > high {b}")
        return a, b
    a = _check_int(v, name, lo)
    return a, a


# ---- the builder ----------------------------------------------------------------------------

Exit = tuple[str, "float | None"]  # (block id, pending branch probability or None)


class _Builder:
    """Builds the workflow dict for one draw. Element kinds: task, branch, loop, fork, map."""

    def __init__(self, rng: np.random.Generator, cfg: GeneratorConfig):
        self.rng = rng
        self.cfg = cfg
        self.blocks: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.flows: list[dict[str, Any]] = []
        self.n = {"t": 0, "br": 0, "loop": 0, "fork": 0, "join": 0, "map": 0}
        self.loop_back: dict[str, str] = {}  # loop branch -> its back-edge target

    # -- small draws ---------------------------------------------------------------------
    def _int_in(self, r: IntRange, name: str) -> int:
        lo, hi = _as_range(r, name, 0)
        return int(self.rng.integers(lo, hi + 1))

    def _log_int(self, r: IntRange, name: str) -> int:
        lo, hi = _as_range(r, name, 0)
        if lo == hi:
            return lo
        if lo == 0:
            return int(self.rng.integers(lo, hi + 1))
        return int(min(hi, max(lo, round(math.exp(self.rng.uniform(math.log(lo),
                                                                    math.log(hi)))))))

    def _probs(self, k: int) -> list[float]:
        """``k`` probabilities, each >= about MIN_BRANCH_PROB, rounded, summing to 1."""
        raw = self.rng.dirichlet(np.ones(k))
        p = MIN_BRANCH_PROB + (1.0 - k * MIN_BRANCH_PROB) * raw
        out = [round(float(x), 4) for x in p[:-1]]
        out.append(round(1.0 - sum(out), 4))
        return out

    def _continue(self) -> float:
        return round(float(self.rng.uniform(MIN_CONTINUE, self.cfg.max_continue)), 4)

    def _count(self) -> dict[str, Any]:
        m = self.cfg.max_map_count
        kind = _COUNT_FAMILIES[int(self.rng.integers(len(_COUNT_FAMILIES)))]
        if kind in ("poisson", "geometric"):
            # never above the largest mean validation accepts (the map clamp, docs/limits.md)
            top = min(float(m), math.floor(max_count_mean(kind) * 100) / 100)
            return {"dist": kind, "mean": round(float(self.rng.uniform(0.5, top)), 2)}
        if kind == "fixed":
            return {"dist": "fixed", "value": int(self.rng.integers(1, m + 1))}
        k = int(self.rng.integers(2, 6))
        vals = [int(v) for v in self.rng.integers(0, m + 1, k)]
        if not any(vals):
            vals[0] = 1
        return {"dist": "empirical", "values": vals}

    def _duration(self) -> dict[str, Any]:
        mean = self._log_int(self.cfg.mean_duration, "mean_duration")
        spread = float(self.cfg.duration_spread)
        if spread == 0:
            return {"dist": "fixed", "value": mean}
        fam = _DURATION_FAMILIES[int(self.rng.choice(len(_DURATION_FAMILIES),
                                                     p=_DURATION_WEIGHTS))]
        cv = float(self.rng.uniform(0.0, spread))
        if fam == "fixed":
            return {"dist": "fixed", "value": mean}
        if fam == "uniform":
            half = min(cv * math.sqrt(3.0), 0.95) * mean  # low stays >= 1
            return {"dist": "uniform", "low": max(1, int(round(mean - half))),
                    "high": max(1, int(round(mean + half)))}
        if fam == "lognormal":
            return {"dist": "lognormal", "mean": mean, "cv": round(cv, 3)}
        if fam == "bimodal":
            # Two points with the given mean and cv: a below the mean with prob p, b above.
            p = round(float(self.rng.uniform(0.1, 0.9)), 3)
            c = min(cv, 0.95 / math.sqrt((1 - p) / p))  # keeps a > 0
            a = max(1, int(round(mean * (1 - c * math.sqrt((1 - p) / p)))))
            b = max(1, int(round(mean * (1 + c * math.sqrt(p / (1 - p))))))
            return {"dist": "bimodal", "p": p, "a": a, "b": b}
        s2 = math.log1p(cv * cv)
        k = int(self.rng.integers(2, 9))
        vals = self.rng.lognormal(math.log(mean) - s2 / 2, math.sqrt(s2), k)
        return {"dist": "empirical", "values": [max(1, int(round(float(v)))) for v in vals]}

    # -- graph primitives ----------------------------------------------------------------
    def _new(self, prefix: str, block: dict[str, Any]) -> str:
        bid = f"{prefix}{self.n[prefix]}"
        self.n[prefix] += 1
        block = {"id": bid, **block}
        self.blocks.append(block)
        self.by_id[bid] = block
        return bid

    def _task(self) -> str:
        # config, kind and out_bytes are filled in by _finish (configs are dealt out at the end).
        return self._new("t", {"type": "task", "duration": self._duration()})

    def _cb(self, prefix: str, btype: str, **extra: Any) -> str:
        return self._new(prefix, {"type": btype, "cost": self._int_in(self.cfg.cb_cost,
                                                                      "cb_cost"), **extra})

    def _flow(self, src: str, dst: str, p: float | None = None) -> None:
        self.flows.append({"src": src, "dst": dst})
        if p is not None:
            self.by_id[src]["probs"][dst] = p

    def _connect(self, exits: list[Exit], dst: str) -> None:
        for src, p in exits:
            self._flow(src, dst, p)

    def _split(self, total: int, parts: int) -> list[int]:
        """``total`` as ``parts`` positive integers (a uniform random composition)."""
        if parts == 1:
            return [total]
        cuts = np.sort(self.rng.choice(total - 1, parts - 1, replace=False)) + 1
        edges = [0, *(int(c) for c in cuts), total]
        return [edges[i + 1] - edges[i] for i in range(parts)]

    # -- elements ------------------------------------------------------------------------
    @staticmethod
    def _min_size(kind: str, closed: bool, single: bool) -> int:
        """Fewest tasks an element of ``kind`` needs; ``closed``/``single`` hold when it is the
        last element of a sequence that has no successor / must end in exactly one exit."""
        if kind == "loop":
            return 1 + closed  # a tail task for the loop's way out when nothing follows
        if kind == "branch":
            return 2 + single  # a merge task gathers the alternatives before a join
        if kind == "fork":
            return 2
        return 1

    def _pick(self, r: int, depth: int, closed: bool, single: bool) -> tuple[str, int]:
        c = self.cfg
        kinds = ["task", "branch", "loop", "fork", "map"]
        if depth >= c.max_depth:
            return "task", 1
        w = np.array([
            max(0.0, 1.0 - c.branch_density - c.map_density - c.fork_density),
            c.branch_density * (1.0 - c.loop_probability),
            c.branch_density * c.loop_probability,
            c.fork_density,
            c.map_density,
        ])
        sizes: list[list[int]] = []
        for i, k in enumerate(kinds):
            lo = self._min_size(k, False, False)
            ok = list(range(lo, r))  # not last: leaves something for the next element
            if self._min_size(k, closed, single) <= r:
                ok.append(r)
            sizes.append(ok)
            if not ok:
                w[i] = 0.0
        if w.sum() <= 0:
            return "task", 1
        i = int(self.rng.choice(len(kinds), p=w / w.sum()))
        if kinds[i] == "task":
            return "task", 1
        return kinds[i], int(sizes[i][int(self.rng.integers(len(sizes[i])))])

    def sequence(self, budget: int, depth: int, closed: bool, single: bool,
                 in_fork: bool) -> tuple[str, list[Exit]]:
        """A sequence of elements holding exactly ``budget`` tasks: ``(entry, exits)``.

        ``closed``: nothing follows, so no exit may be a branch still owing a flow.
        ``single``: exactly one exit (a fork arm, feeding its join).
        ``in_fork``: inside a fork arm (up to the nearest map body), so nothing may end early.
        """
        assert not (closed and single), "a sequence with one exit has a successor"
        entry: str | None = None
        exits: list[Exit] = []
        r = budget
        while r > 0:
            kind, size = self._pick(r, depth, closed, single)
            last = size == r
            e_entry, e_exits = self._element(kind, size, depth, closed and last,
                                             single and last, in_fork)
            if entry is None:
                entry = e_entry
            else:
                self._connect(exits, e_entry)
            exits = e_exits
            r -= size
        assert entry is not None
        return entry, exits

    def _element(self, kind: str, size: int, depth: int, closed: bool, single: bool,
                 in_fork: bool) -> tuple[str, list[Exit]]:
        if kind == "task":
            t = self._task()
            return t, [(t, None)]
        if kind == "loop":
            entry, exits = self.sequence(size - closed, depth + 1, False, False, in_fork)
            lb = self._cb("loop", "branch", probs={})
            self._connect(exits, lb)
            p = self._continue()
            self._flow(lb, entry, p)
            self.loop_back[lb] = entry
            out = round(1.0 - p, 4)
            if closed:
                tail = self._task()
                self._flow(lb, tail, out)
                return entry, [(tail, None)]
            return entry, [(lb, out)]
        if kind == "branch":
            return self._branch(size, depth, closed, single, in_fork)
        if kind == "fork":
            fk = self._cb("fork", "fork")
            k = int(self.rng.integers(2, min(self.cfg.max_fork_arms, size) + 1))
            arms = [self.sequence(n, depth + 1, False, True, True) for n in self._split(size, k)]
            jn = self._cb("join", "join")
            for a_entry, a_exits in arms:
                assert len(a_exits) == 1
                self._flow(fk, a_entry)
                self._connect(a_exits, jn)
            return fk, [(jn, None)]
        assert kind == "map"
        mp = self._cb("map", "map", body=None, count=self._count())
        body, _ = self.sequence(size, depth + 1, True, False, False)
        self.by_id[mp]["body"] = body
        return mp, [(mp, None)]

    def _branch(self, size: int, depth: int, closed: bool, single: bool,
                in_fork: bool) -> tuple[str, list[Exit]]:
        c = self.cfg
        avail = size - single
        skip = (not closed) and bool(self.rng.random() < c.skip_probability)
        lo_m = 1 if skip else 2
        hi_m = max(lo_m, min(c.max_branch_arms - skip, avail))
        m = int(self.rng.integers(lo_m, hi_m + 1))
        parts = self._split(avail, m)
        ends = [(closed or (not in_fork and bool(self.rng.random() < c.exit_probability)))
                for _ in range(m)]
        if not closed and not skip and all(ends):
            ends[int(self.rng.integers(m))] = False  # something must reach the successor
        probs = self._probs(m + skip)
        br = self._cb("br", "branch", probs={})
        exits: list[Exit] = []
        for n, end, p in zip(parts, ends, probs, strict=False):
            a_entry, a_exits = self.sequence(n, depth + 1, end, False, in_fork)
            self._flow(br, a_entry, p)
            if not end:
                exits.extend(a_exits)
        if skip:
            exits.append((br, probs[-1]))
        if single:
            merge = self._task()
            self._connect(exits, merge)
            exits = [(merge, None)]
        return br, exits

    # -- finishing -----------------------------------------------------------------------
    def finish(self, entry: str, name: str) -> dict[str, Any]:
        c, rng = self.cfg, self.rng
        tasks = [b for b in self.blocks if b["type"] == "task"]
        n_cfg = self._int_in(c.n_configs, "n_configs")
        kinds = ["ai" if rng.random() < c.ai_fraction else "general" for _ in range(n_cfg)]
        # Every configuration gets a task first (when there are enough), then the rest at random.
        deal = np.concatenate([rng.permutation(n_cfg),
                               rng.integers(0, n_cfg, max(0, len(tasks) - n_cfg))])[:len(tasks)]
        deal = deal[rng.permutation(len(tasks))]
        for t, k in zip(tasks, deal, strict=True):
            k = int(k)
            dur = t.pop("duration")
            t.update(config=f"cfg{k}", kind=kinds[k], duration=dur,
                     out_bytes=self._log_int(c.bytes, "bytes"))
        for f in self.flows:
            src = self.by_id[f["src"]]
            f["bytes"] = src["out_bytes"] if src["type"] == "task" else \
                self._log_int(c.bytes, "bytes")
        d: dict[str, Any] = {
            "name": name,
            "description": "seeded random OWG (octogym.workflows.generator)",
            "entry": entry,
            "blocks": self.blocks,
            "flows": self.flows,
        }
        phases = self._phases()
        if phases:
            d["phases"] = phases
        return d

    def _phases(self) -> list[dict[str, Any]]:
        c, rng = self.cfg, self.rng
        n = self._int_in(c.n_phases, "n_phases")
        dyn = [b for b in self.blocks if b["type"] in ("branch", "map")]
        if n == 0 or not dyn:
            return []
        out = []
        after = 0
        for _ in range(n):
            after += self._log_int(c.phase_length, "phase_length")
            chosen = [b for b in dyn if rng.random() < c.drift_fraction]
            if not chosen:
                chosen = [dyn[int(rng.integers(len(dyn)))]]
            s: dict[str, Any] = {}
            for b in chosen:
                if b["type"] == "map":
                    s[b["id"]] = {"count": self._count()}
                elif b["id"] in self.loop_back:
                    back = self.loop_back[b["id"]]
                    p = self._continue()
                    s[b["id"]] = {"probs": {k: (p if k == back else round(1.0 - p, 4))
                                            for k in b["probs"]}}
                else:
                    keys = list(b["probs"])
                    s[b["id"]] = {"probs": dict(zip(keys, self._probs(len(keys)),
                                                    strict=True))}
            out.append({"after_requests": after, "set": s})
        return out


def generate_workflow_dict(rng: np.random.Generator, config: GeneratorConfig | None = None,
                           name: str = "random") -> dict[str, Any]:
    """The file-format tree of one random workflow (not yet validated)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    cfg = GeneratorConfig() if config is None else config
    if not isinstance(cfg, GeneratorConfig):
        raise TypeError(f"config must be a GeneratorConfig, got {type(cfg).__name__}")
    b = _Builder(rng, cfg)
    n_tasks = b._int_in(cfg.n_tasks, "n_tasks")
    entry, _ = b.sequence(n_tasks, 0, closed=True, single=False, in_fork=False)
    return b.finish(entry, name)


def generate_workflow(rng: np.random.Generator, config: GeneratorConfig | None = None,
                      name: str = "random") -> Workflow:
    """A random valid workflow drawn with ``rng`` under ``config`` (defaults if None).

    >>> import numpy as np
    >>> wf = generate_workflow(np.random.default_rng(0), GeneratorConfig(n_tasks=6))
    >>> len(wf.tasks)
    6
    """
    return Workflow.from_dict(generate_workflow_dict(rng, config, name), source=f"<{name}>")


class WorkflowGenerator(ABC):
    """Makes one workflow instance per call: ``generator(rng) -> Workflow``."""

    @abstractmethod
    def __call__(self, rng: np.random.Generator) -> Workflow:
        """Draw a workflow using only ``rng`` for randomness."""


class RandomWorkflowGenerator(WorkflowGenerator):
    """Random OWGs from a fixed :class:`GeneratorConfig`.

    >>> import numpy as np
    >>> gen = RandomWorkflowGenerator(GeneratorConfig(n_tasks=(3, 8), n_phases=1))
    >>> wf = gen(np.random.default_rng(1))
    """

    def __init__(self, config: GeneratorConfig | None = None, name: str = "random"):
        self.config = GeneratorConfig() if config is None else config
        if not isinstance(self.config, GeneratorConfig):
            raise TypeError(f"config must be a GeneratorConfig, got {type(config).__name__}")
        self.name = name

    def __call__(self, rng: np.random.Generator) -> Workflow:
        return generate_workflow(rng, self.config, self.name)

    def __repr__(self) -> str:
        return f"RandomWorkflowGenerator({self.config!r}, name={self.name!r})"


def toy_chain(n: int, duration: int, config: str = "toy", name: str | None = None) -> Workflow:
    """A linear chain ``t0 -> t1 -> ... -> t{n-1}`` of ``fixed`` ``duration``-cycle AI tasks on
    one configuration: every task runs once per request, a request does ``n * duration``
    TBU-cycles and its critical path is ``n * duration`` cycles (a known-answer oracle)."""
    n = _check_int(n, "n (toy_chain)", 1)
    duration = _check_int(duration, "duration (toy_chain)", 1)
    ids = [f"t{i}" for i in range(n)]
    return Workflow.from_dict({
        "name": name or f"toy_chain_{n}",
        "entry": ids[0],
        "blocks": [{"id": i, "type": "task", "config": config, "kind": "ai",
                    "duration": {"dist": "fixed", "value": duration}, "out_bytes": 0}
                   for i in ids],
        "flows": [{"src": a, "dst": b, "bytes": 0} for a, b in zip(ids, ids[1:], strict=False)],
    }, source="<toy_chain>")
