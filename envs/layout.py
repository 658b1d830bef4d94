"""Observation layouts: the one table per environment that the builders, the class docstrings,
docs/envs.md and the tests all read.

An observation is a flat ``float32`` vector in ``[0, 1]``. Scalar features come first, in table
order; then each per-entity feature in table order, one value per entity (feature-major):
``per="tbu"`` features have one value per TBU of the decision's home cluster (``K`` =
``tbus_per_cluster``), ``per="cluster"`` features one per cluster (``C``), ``per="machine"``
features one per TBU of the machine (``T = C * K``, TBU id order), ``per="candidate"`` features
one per dispatch candidate slot (``queue_capacity + DISPATCH_BACKLOG``, :func:`n_candidates`;
the same at every machine size).

Time normalisation (ours): ``squash(x, s) = x / (x + s)`` maps ``[0, inf)`` onto ``[0, 1)``
monotonically, with ``squash(s, s) = 0.5``. Two scales come from the workflow mix, so one
layout fits any mix and hardware:

* ``tau``: expected cycles of one TB execution (expected TBU-cycles per request divided by
  expected TB executions per request);
* ``work``: expected TBU-cycles of one request.
"""

from __future__ import annotations

from dataclasses import dataclass

from octogym.hardware import HardwareConfig, get_hardware
from octogym.kernel.layout import DISPATCH_BACKLOG


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


# Dispatch: a freed TBU chooses which waiting TB it runs next (octogym/kernel/dispatch.py).
# Candidate slot i = its i-th queued job (head first), then its cluster's backlog, oldest first.
DISPATCH_FEATURES: tuple[Feature, ...] = (
    Feature("tbu_queue", "", "TB instances in the freed TBU's queue / queue_capacity"),
    Feature("cluster_backlog", "", "`n` TBs parked in its cluster's backlog: n / (n + K)"),
    Feature("in_system", "", "`n` requests arrived and not finished: n / (n + C*K)"),
    Feature("progress", "", "requests finished / requests_per_episode"),
    Feature("cand_valid", "candidate", "1 if the slot holds a candidate (= the action mask)"),
    Feature("cand_from_backlog", "candidate", "1 if the candidate waits in the cluster's "
            "backlog (choosing it moves it into the TBU's queue), 0 if it is queued"),
    Feature("cand_expected_duration", "candidate", "expected run cycles `d` of its TB: "
            "squash(d, tau)"),
    Feature("cand_remaining_work", "candidate", "expected TBU-cycles `w` its request still "
            "runs from this TB on, this TB included (octogym/workflows/remaining.py): "
            "squash(w, work)"),
    Feature("cand_request_age", "candidate", "cycles since its request arrived: "
            "squash(t, work)"),
    Feature("cand_waiting", "candidate", "cycles since the TB became ready: squash(t, tau)"),
    Feature("cand_config_match", "candidate", "1 if the TBU holds its configuration (it "
            "would run without reconfiguring)"),
    Feature("cand_data_wait", "candidate", "cycles until its input data is at the TBU (a "
            "backlog job's transfer would start now): squash(t, tau)"),
)


def n_candidates(hw: HardwareConfig) -> int:
    """Dispatch candidate slots: the queue plus ``DISPATCH_BACKLOG`` backlog jobs."""
    return hw.queue_capacity + DISPATCH_BACKLOG


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


# Provision: one cluster at an epoch, choose an idle TBU's new configuration or keep.
# ``per="config"``: one value per configuration of the workflow mix (``NCFG``);
# ``per="tbu_config"``: one per (TBU of the cluster, configuration), TBU-major, the order of
# the actions.
PROVISION_FEATURES: tuple[Feature, ...] = (
    Feature("in_system", "", "`n` requests arrived and not finished: n / (n + C*K)"),
    Feature("progress", "", "requests finished / requests_per_episode"),
    Feature("cluster_position", "", "the cluster's index / C (clusters are asked in order)"),
    Feature("cluster_backlog", "", "`n` TBs parked in the cluster's backlog: n / (n + K)"),
    Feature("reconfigured_here", "", "1 if this epoch already reconfigured a TBU of the "
            "cluster"),
    Feature("tbu_reconfigurable", "tbu", "1 if the TBU is idle with an empty queue (only "
            "such a TBU can be reconfigured)"),
    Feature("tbu_queue", "tbu", "TB instances in the TBU's queue, running one included / "
            "queue_capacity"),
    Feature("tbu_idle_for", "tbu", "cycles `t` an idle, empty TBU has been idle: "
            "squash(t, tau) (0 if busy)"),
    Feature("config_waiting", "config", "`n` jobs waiting for the configuration in the "
            "cluster (queued at the TBUs holding it, plus its backlogged TBs): n / (n + K)"),
    Feature("config_tbus", "config", "TBUs of the cluster holding the configuration / K"),
    Feature("config_machine_tbus", "config", "TBUs of the machine holding it / (C*K)"),
    Feature("config_demand", "config", "share of the cluster's TB instances so far that "
            "needed it (0 before the first)"),
    Feature("tbu_config", "tbu_config", "1 if the TBU holds the configuration"),
)


def layout(features: tuple[Feature, ...], K: int, C: int, n_configs: int = 1, n_cand: int = 0
           ) -> dict[str, slice]:
    """Name -> slice of the flat observation, for ``K`` TBUs per cluster, ``C`` clusters,
    ``n_configs`` configurations in the workflow mix and ``n_cand`` dispatch candidate
    slots."""
    n = {"": 1, "tbu": K, "cluster": C, "machine": C * K, "config": n_configs,
         "tbu_config": K * n_configs, "candidate": n_cand}
    out: dict[str, slice] = {}
    i = 0
    for per in ("", "tbu", "cluster", "machine", "config", "tbu_config", "candidate"):
        for f in features:
            if f.per == per:
                out[f.name] = slice(i, i + n[per])
                i += n[per]
    return out


def obs_size(features: tuple[Feature, ...], K: int, C: int, n_configs: int = 1,
             n_cand: int = 0) -> int:
    return max(s.stop for s in layout(features, K, C, n_configs, n_cand).values())


def _span(s: slice) -> str:
    return str(s.start) if s.stop - s.start == 1 else f"{s.start}-{s.stop - 1}"


def markdown_table(features: tuple[Feature, ...], presets: tuple[str, ...] = ("chip", "wafer"),
                   n_configs: int = 1) -> str:
    """The feature table (Markdown) with the index range of each feature at each preset
    (``n_configs``: configurations of the mix, for ``config`` features)."""
    lays = []
    for p in presets:
        hw = get_hardware(p)
        lays.append(layout(features, hw.tbus_per_cluster, hw.n_clusters, n_configs,
                           n_candidates(hw)))
    head = "| feature | per | " + " | ".join(f"index ({p})" for p in presets) + " | meaning |"
    sep = "|---|---|" + "---|" * len(presets) + "---|"
    order = sorted(features, key=lambda f: lays[0][f.name].start)
    rows = [f"| `{f.name}` | {f.per or '-'} | " + " | ".join(_span(lay[f.name]) for lay in lays)
            + f" | {f.description} |" for f in order]
    sizes = ", ".join(
        f"{p}: {obs_size(features, h.tbus_per_cluster, h.n_clusters, n_configs, n_candidates(h))}"
        for p, h in ((p, get_hardware(p)) for p in presets))
    return "\n".join([head, sep, *rows, "", f"Observation size: {sizes}."])


if __name__ == "__main__":  # print the tables for docs/envs.md
    for title, feats in (("TBUAssign", TBU_FEATURES), ("ClusterAssign", CLUSTER_FEATURES),
                         ("Dispatch", DISPATCH_FEATURES), ("Place", PLACE_FEATURES)):
        print(f"### {title}\n\n{markdown_table(feats)}\n")
    from octogym.envs.provision import DOC_N_CONFIGS, doc_note
    print(f"### Provision\n\n{doc_note()}\n\n"
          f"{markdown_table(PROVISION_FEATURES, n_configs=DOC_N_CONFIGS)}\n")
