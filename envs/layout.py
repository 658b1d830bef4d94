"""Observation layouts: the one table per environment that the builders, the class docstrings,
docs/envs.md and the tests all read.

An observation is a flat ``float32`` vector in ``[0, 1]``. Scalar features come first, in table
order; then each per-entity feature in table order, one value per entity (feature-major):
``per="tbu"`` features have one value per TBU of the decision's home cluster (``K`` =
``tbus_per_cluster``), ``per="cluster"`` features one per cluster (``C``), ``per="machine"``
features one per TBU of the machine (``T = C * K``, TBU id order).

Time normalisation (ours): ``squash(x, s) = x / (x + s)`` maps ``[0, inf)`` onto ``[0, 1)``
monotonically, with ``squash(s, s) = 0.5``. Two scales come from the workflow mix, so one
layout fits any mix and hardware:

* ``tau``: expected cycles of one TB execution (expected TBU-cycles per request divided by
  expected TB executions per request);
* ``work``: expected TBU-cycles of one request.
"""

from __future__ import annotations

from dataclasses import dataclass

from octogym.hardware import get_hardware


@dataclass(frozen=True)
class Feature:
    """One observation feature."""

    name: str
    per: str  # "" (one value), "tbu" (K values), "cluster" (C values)
    description: str


# TBU assignment: one ready TB instance, choose a TBU of its home cluster.
TBU_FEATURES: tuple[Feature, ...] = (
    Feature("tb_expected_duration", "", "expected cycles `d` of the ready TB: squash(d, tau)"),
    Feature("tb_waiting", "", "cycles since the TB became ready (it may have waited in the "
            "backlog): squash(t, tau)"),
    Feature("tb_remote_input", "", "1 if its input data comes from another cluster, else 0"),
    Feature("request_age", "", "cycles since its request arrived: squash(t, work)"),
    Feature("home_backlog", "", "`n` TBs parked in the home cluster's backlog: n / (n + K)"),
    Feature("in_system", "", "`n` requests arrived and not finished: n / (n + C*K)"),
    Feature("progress", "", "requests finished / requests_per_episode"),
    Feature("tbu_free_slot", "tbu", "1 if the TBU's queue has space (= the action mask)"),
    Feature("tbu_queue", "tbu", "TB instances in the TBU's queue, running one included / "
            "queue_capacity"),
    Feature("tbu_queued_work", "tbu", "expected cycles of its queued TBs `w`: squash(w, tau)"),
    Feature("tbu_remaining", "tbu", "cycles until its running TB (or reconfiguration) ends: "
            "squash(t, tau)"),
    Feature("tbu_config_match", "tbu", "1 if the TB would run without reconfiguring (the "
            "TBU's configuration after its queue equals the TB's)"),
)

# Cluster assignment: one arriving request, choose its home cluster.
CLUSTER_FEATURES: tuple[Feature, ...] = (
    Feature("request_expected_work", "", "expected TBU-cycles `w` of the request's workflow: "
            "squash(w, work)"),
    Feature("in_system", "", "`n` requests arrived and not finished: n / (n + C*K)"),
    Feature("progress", "", "requests finished / requests_per_episode"),
    Feature("system_queue", "", "TB instances queued at all TBUs / (T * queue_capacity)"),
    Feature("cluster_queue", "cluster", "TB instances queued at the cluster's TBUs / "
            "(K * queue_capacity)"),
    Feature("cluster_backlog", "cluster", "`n` TBs parked in the cluster's backlog: "
            "n / (n + K)"),
    Feature("cluster_queued_work", "cluster", "expected cycles `w` queued at its TBUs: "
            "squash(w, K*tau)"),
    Feature("cluster_cbu_busy", "cluster", "cycles until its CBU is free: squash(t, tau)"),
)


# Place: one ready TB instance, choose any TBU of the machine or a cluster backlog to wait in.
# Per machine TBU only two features, so the wafer's observation stays ~3k values (docs/envs.md).
PLACE_FEATURES: tuple[Feature, ...] = (
    *(f for f in TBU_FEATURES if f.per == ""),
    Feature("tbu_queue", "machine", "TB instances in the TBU's queue, running one included / "
            "queue_capacity (1 = full: the TBU is masked out)"),
    Feature("tbu_config_match", "machine", "1 if the TB would run there without "
            "reconfiguring (the TBU's configuration after its queue equals the TB's)"),
    Feature("cluster_home", "cluster", "1 for the TB's home cluster, else 0"),
    Feature("cluster_transfer", "cluster", "cycles `t` to move the TB's input data to the "
            "cluster: squash(t, tau)"),
    Feature("cluster_queued_work", "cluster", "expected cycles `w` queued at its TBUs: "
            "squash(w, K*tau)"),
    Feature("cluster_backlog", "cluster", "`n` TBs parked in the cluster's backlog: "
            "n / (n + K)"),
)


def layout(features: tuple[Feature, ...], K: int, C: int) -> dict[str, slice]:
    """Name -> slice of the flat observation, for ``K`` TBUs per cluster and ``C`` clusters."""
    n = {"": 1, "tbu": K, "cluster": C, "machine": C * K}
    out: dict[str, slice] = {}
    i = 0
    for per in ("", "tbu", "cluster", "machine"):
        for f in features:
            if f.per == per:
                out[f.name] = slice(i, i + n[per])
                i += n[per]
    return out


def obs_size(features: tuple[Feature, ...], K: int, C: int) -> int:
    return max(s.stop for s in layout(features, K, C).values())


def _span(s: slice) -> str:
    return str(s.start) if s.stop - s.start == 1 else f"{s.start}-{s.stop - 1}"


def markdown_table(features: tuple[Feature, ...], presets: tuple[str, ...] = ("chip", "wafer")
                   ) -> str:
    """The feature table (Markdown) with the index range of each feature at each preset."""
    lays = []
    for p in presets:
        hw = get_hardware(p)
        lays.append(layout(features, hw.tbus_per_cluster, hw.n_clusters))
    head = "| feature | per | " + " | ".join(f"index ({p})" for p in presets) + " | meaning |"
    sep = "|---|---|" + "---|" * len(presets) + "---|"
    order = sorted(features, key=lambda f: lays[0][f.name].start)
    rows = [f"| `{f.name}` | {f.per or '-'} | " + " | ".join(_span(lay[f.name]) for lay in lays)
            + f" | {f.description} |" for f in order]
    sizes = ", ".join(f"{p}: {obs_size(features, h.tbus_per_cluster, h.n_clusters)}"
                      for p, h in ((p, get_hardware(p)) for p in presets))
    return "\n".join([head, sep, *rows, "", f"Observation size: {sizes}."])


if __name__ == "__main__":  # print the tables for docs/envs.md
    for title, feats in (("TBUAssign", TBU_FEATURES), ("ClusterAssign", CLUSTER_FEATURES),
                         ("Place", PLACE_FEATURES)):
        print(f"### {title}\n\n{markdown_table(feats)}\n")
