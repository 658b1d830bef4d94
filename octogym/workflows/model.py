"""The Orchestrated Workflow Graph (OWG): Task Blocks, Control Blocks, Task Flows, Phases.

Concepts (TB, CB, Task Flow, Dual Dynamicity) are the paper's; the block vocabulary
(``branch``/``map``/``fork``/``join``), the file format and all numbers are ours (docs/model.md §1).

Objects here are immutable. ``Workflow.from_dict`` parses *and fully validates*; it either
returns a valid workflow or raises :class:`WorkflowError` — nothing half-loaded escapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from octogym import limits
from octogym.limits import short
from octogym.workflows.distributions import Count, DistributionError, Duration
from octogym.workflows.errors import WorkflowError
from octogym.workflows.validate import validate

TASK_KINDS = ("ai", "general")
CONTROL_TYPES = ("branch", "map", "fork", "join")
BLOCK_TYPES = ("task", *CONTROL_TYPES)


@dataclass(frozen=True)
class TaskBlock:
    """A Task Block: AI or general computation run on one TBU holding PEA config ``config``."""

    id: str
    config: str
    kind: str
    duration: Duration
    out_bytes: int = 0
    type: str = field(default="task", init=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "task",
            "config": self.config,
            "kind": self.kind,
            "duration": self.duration.to_dict(),
            "out_bytes": self.out_bytes,
        }


@dataclass(frozen=True)
class ControlBlock:
    """A Control Block, run on the home cluster's CBU for ``cost`` cycles.

    ``branch``: one successor drawn from ``probs``; ``map``: ``count`` copies of ``body`` then
    one token on its own outgoing flow; ``fork``: all successors; ``join``: fires once it holds
    one token per incoming flow.
    """

    id: str
    type: str
    cost: int = 0
    probs: tuple[tuple[str, float], ...] | None = None
    body: str | None = None
    count: Count | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "map":
            d["body"] = self.body
        d["cost"] = self.cost
        if self.type == "map":
            d["count"] = self.count.to_dict()  # type: ignore[union-attr]
        if self.type == "branch":
            d["probs"] = dict(self.probs or ())
        return d


Block = TaskBlock | ControlBlock


@dataclass(frozen=True)
class TaskFlow:
    """Data moved from ``src`` to ``dst``; costs NoC time when they run in different places."""

    src: str
    dst: str
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"src": self.src, "dst": self.dst, "bytes": self.bytes}


@dataclass(frozen=True)
class Phase:
    """Piecewise-stationary drift: from request ``after_requests`` (or cycle ``after_cycles``) on,
    the listed control blocks use new ``probs`` (branch) or ``count`` (map)."""

    after_requests: int | None
    after_cycles: int | None
    probs: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()
    counts: tuple[tuple[str, Count], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.after_requests is not None:
            d["after_requests"] = self.after_requests
        if self.after_cycles is not None:
            d["after_cycles"] = self.after_cycles
        s: dict[str, Any] = {}
        for bid, pr in self.probs:
            s.setdefault(bid, {})["probs"] = dict(pr)
        for bid, c in self.counts:
            s.setdefault(bid, {})["count"] = c.to_dict()
        d["set"] = s
        return d


@dataclass(frozen=True)
class Workflow:
    """A validated OWG. Build with :meth:`from_dict` or :func:`octogym.workflows.load_workflow`."""

    name: str
    entry: str
    blocks: tuple[Block, ...]
    flows: tuple[TaskFlow, ...]
    phases: tuple[Phase, ...] = ()
    description: str = ""
    source: str | None = field(default=None, compare=False)

    # ---- look-ups -------------------------------------------------------------------------
    @property
    def block_ids(self) -> list[str]:
        return [b.id for b in self.blocks]

    def block(self, bid: str) -> Block:
        for b in self.blocks:
            if b.id == bid:
                return b
        raise KeyError(bid)

    def successors(self, bid: str) -> list[TaskFlow]:
        return [f for f in self.flows if f.src == bid]

    def predecessors(self, bid: str) -> list[TaskFlow]:
        return [f for f in self.flows if f.dst == bid]

    @property
    def tasks(self) -> list[TaskBlock]:
        return [b for b in self.blocks if isinstance(b, TaskBlock)]

    @property
    def configs(self) -> list[str]:
        """PEA configurations the workflow's TBs need, in first-use order."""
        seen: dict[str, None] = {}
        for t in self.tasks:
            seen.setdefault(t.config, None)
        return list(seen)

    # ---- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name}
        if self.description:
            d["description"] = self.description
        d["entry"] = self.entry
        d["blocks"] = [b.to_dict() for b in self.blocks]
        d["flows"] = [f.to_dict() for f in self.flows]
        if self.phases:
            d["phases"] = [p.to_dict() for p in self.phases]
        return d

    @staticmethod
    def from_dict(d: Any, source: str | None = None) -> Workflow:
        """Parse and validate; raises :class:`WorkflowError` naming source, block and rule."""
        wf = _parse_workflow(d, source)
        validate(wf)
        return wf

    def with_phase(self, k: int) -> Workflow:
        """The workflow with phases ``0..k-1`` applied to its control blocks (no phases left)."""
        blocks = {b.id: b for b in self.blocks}
        for ph in self.phases[:k]:
            for bid, pr in ph.probs:
                blocks[bid] = _replace_cb(blocks[bid], probs=pr)
            for bid, c in ph.counts:
                blocks[bid] = _replace_cb(blocks[bid], count=c)
        return Workflow(
            self.name, self.entry, tuple(blocks[b.id] for b in self.blocks), self.flows, (),
            self.description, self.source,
        )


def _replace_cb(b: Block, **kw: Any) -> ControlBlock:
    assert isinstance(b, ControlBlock)
    fields = {"id": b.id, "type": b.type, "cost": b.cost, "probs": b.probs, "body": b.body,
              "count": b.count}
    fields.update(kw)
    return ControlBlock(**fields)


# ---- parsing (structure and types; graph rules live in validate.py) -----------------------

def _err(source: str | None, block: str | None, rule: str, detail: str) -> WorkflowError:
    return WorkflowError(source, block, rule, detail)


def _keys(d: Mapping, required: set[str], optional: set[str], source, block, what) -> None:
    missing = sorted(required - set(d))
    if missing:
        raise _err(source, block, "schema", f"{what} is missing {missing}")
    extra = sorted(map(str, set(d) - required - optional))
    if extra:
        raise _err(source, block, "schema", f"{what} has unknown keys {short(extra)}")


def _count(items: list, most: int, what: str, source) -> None:
    if len(items) > most:
        raise _err(source, None, "limit",
                   f"{what}: at most {most} allowed (docs/limits.md), got {len(items)}")


def _int(v: Any, source, block, what: str, minimum: int = 0,
         maximum: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise _err(source, block, "schema", f"{what} must be an integer, got {short(v)}")
    if v < minimum:
        raise _err(source, block, "schema", f"{what} must be >= {minimum}, got {short(v)}")
    if maximum is not None and v > maximum:
        raise _err(source, block, "limit",
                   f"{what} must be <= {maximum} (docs/limits.md), got {short(v)}")
    return v


def _str(v: Any, source, block, what: str) -> str:
    if not isinstance(v, str) or not v:
        raise _err(source, block, "schema", f"{what} must be a non-empty string, got {short(v)}")
    if len(v) > limits.MAX_ID_CHARS:
        raise _err(source, block, "limit", f"{what} must be at most {limits.MAX_ID_CHARS} "
                                           f"characters, got {len(v)}")
    return v


def _probs(v: Any, source, block) -> tuple[tuple[str, float], ...]:
    if not isinstance(v, Mapping) or not v:
        raise _err(source, block, "schema", f"probs must be a non-empty mapping, got {short(v)}")
    out = []
    for k, p in v.items():
        if isinstance(p, bool) or not isinstance(p, (int, float)):
            raise _err(source, block, "probabilities",
                       f"probability of {short(k)} is not a number")
        out.append((_str(str(k), source, block, "a probs key"), float(p)))
    return tuple(out)


def _parse_block(b: Any, source: str | None, i: int) -> Block:
    if not isinstance(b, Mapping):
        raise _err(source, None, "schema", f"blocks[{i}] must be a mapping, got {short(b)}")
    bid = b.get("id")
    bid = _str(bid, source, None, f"blocks[{i}].id")
    btype = b.get("type")
    if btype not in BLOCK_TYPES:
        raise _err(source, bid, "schema",
                   f"type must be one of {list(BLOCK_TYPES)}, got {short(btype)}")
    try:
        if btype == "task":
            _keys(b, {"id", "type", "config", "kind", "duration"}, {"out_bytes"}, source, bid,
                  "task block")
            kind = b["kind"]
            if kind not in TASK_KINDS:
                raise _err(source, bid, "schema", f"kind must be one of {list(TASK_KINDS)}")
            return TaskBlock(
                bid,
                _str(b["config"], source, bid, "config"),
                kind,
                Duration.from_dict(b["duration"]),
                _int(b.get("out_bytes", 0), source, bid, "out_bytes",
                     maximum=limits.MAX_BYTES),
            )
        cost = _int(b.get("cost", 0), source, bid, "cost", maximum=limits.MAX_DURATION_CYCLES)
        if btype == "branch":
            _keys(b, {"id", "type", "probs"}, {"cost"}, source, bid, "branch block")
            return ControlBlock(bid, "branch", cost, probs=_probs(b["probs"], source, bid))
        if btype == "map":
            if "body" not in b:
                raise _err(source, bid, "map-body", "a map needs a 'body' (the block it copies)")
            _keys(b, {"id", "type", "body", "count"}, {"cost"}, source, bid, "map block")
            return ControlBlock(bid, "map", cost, body=_str(b["body"], source, bid, "body"),
                                count=Count.from_dict(b["count"]))
        _keys(b, {"id", "type"}, {"cost"}, source, bid, f"{btype} block")
        return ControlBlock(bid, btype, cost)
    except DistributionError as e:
        rule = "duration" if btype == "task" else "count"
        raise _err(source, bid, rule, str(e)) from None


def _parse_phase(p: Any, source: str | None, i: int, blocks: dict[str, Block]) -> Phase:
    where = f"phases[{i}]"
    if not isinstance(p, Mapping):
        raise _err(source, None, "phase", f"{where} must be a mapping")
    _keys(p, {"set"}, {"after_requests", "after_cycles"}, source, None, where)
    ar, ac = p.get("after_requests"), p.get("after_cycles")
    if (ar is None) == (ac is None):
        raise _err(source, None, "phase", f"{where} needs exactly one of after_requests / "
                                          "after_cycles")
    ar = None if ar is None else _int(ar, source, None, f"{where}.after_requests", 1,
                                      limits.MAX_REQUESTS)
    ac = None if ac is None else _int(ac, source, None, f"{where}.after_cycles", 1,
                                      limits.CYCLE_HORIZON)
    s = p["set"]
    if not isinstance(s, Mapping) or not s:
        raise _err(source, None, "phase", f"{where}.set must be a non-empty mapping")
    probs, counts = [], []
    for bid, change in s.items():
        b = blocks.get(bid)
        if b is None:
            raise _err(source, str(bid)[:limits.MAX_ID_CHARS], "unknown-id",
                       f"{where} changes an unknown block")
        if not isinstance(change, Mapping) or not change:
            raise _err(source, bid, "phase", f"{where}: change must be a mapping")
        for key, val in change.items():
            if key == "probs" and b.type == "branch":
                probs.append((bid, _probs(val, source, bid)))
            elif key == "count" and b.type == "map":
                try:
                    counts.append((bid, Count.from_dict(val)))
                except DistributionError as e:
                    raise _err(source, bid, "count", f"{where}: {e}") from None
            else:
                raise _err(source, bid, "phase",
                           f"{where} cannot set {short(key)} on a {b.type} block "
                           "(branch takes probs, map takes count)")
    return Phase(ar, ac, tuple(probs), tuple(counts))


def _parse_workflow(d: Any, source: str | None) -> Workflow:
    if not isinstance(d, Mapping):
        raise _err(source, None, "schema", "a workflow must be a mapping at the top level")
    _keys(d, {"name", "entry", "blocks"}, {"flows", "phases", "description"}, source, None,
          "workflow")
    name = _str(d["name"], source, None, "name")
    entry = _str(d["entry"], source, None, "entry")
    raw_blocks = d["blocks"]
    if not isinstance(raw_blocks, list) or not raw_blocks:
        raise _err(source, None, "schema", "blocks must be a non-empty list")
    _count(raw_blocks, limits.MAX_BLOCKS, "blocks", source)
    blocks = [_parse_block(b, source, i) for i, b in enumerate(raw_blocks)]
    by_id: dict[str, Block] = {}
    for b in blocks:
        if b.id in by_id:
            raise _err(source, b.id, "duplicate-id", "two blocks share this id")
        by_id[b.id] = b
    raw_flows = d.get("flows") or []
    if not isinstance(raw_flows, list):
        raise _err(source, None, "schema", "flows must be a list")
    _count(raw_flows, limits.MAX_FLOWS, "flows", source)
    flows = []
    for i, f in enumerate(raw_flows):
        if not isinstance(f, Mapping):
            raise _err(source, None, "schema", f"flows[{i}] must be a mapping")
        _keys(f, {"src", "dst"}, {"bytes"}, source, None, f"flows[{i}]")
        src = _str(f["src"], source, None, f"flows[{i}].src")
        dst = _str(f["dst"], source, None, f"flows[{i}].dst")
        flows.append(TaskFlow(src, dst, _int(f.get("bytes", 0), source, src, f"flows[{i}].bytes",
                                             maximum=limits.MAX_BYTES)))
    raw_phases = d.get("phases") or []
    if not isinstance(raw_phases, list):
        raise _err(source, None, "schema", "phases must be a list")
    _count(raw_phases, limits.MAX_PHASES, "phases", source)
    phases = tuple(_parse_phase(p, source, i, by_id) for i, p in enumerate(raw_phases))
    desc = d.get("description", "")
    if not isinstance(desc, str):
        raise _err(source, None, "schema", "description must be a string")
    if len(desc) > limits.MAX_DESCRIPTION_CHARS:
        raise _err(source, None, "limit", f"description must be at most "
                                          f"{limits.MAX_DESCRIPTION_CHARS} characters")
    return Workflow(name, entry, tuple(blocks), tuple(flows), phases, desc, source)
