"""Strongly connected components of a block graph, in linear time and without recursion
(so a hostile file with a long chain or loop cannot exhaust Python's stack)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def strongly_connected(edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The strongly connected components of ``edges`` (node -> successors), each a list of
    nodes, in topological order: every edge goes from a component to itself or a later one.
    Iterative Tarjan; nodes are visited in the mapping's order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            succ = edges[node]
            while i < len(succ):
                s = succ[i]
                i += 1
                if s not in index:
                    work.append((node, i))
                    work.append((s, 0))
                    break
                if s in on_stack:
                    low[node] = min(low[node], index[s])
            else:
                if low[node] == index[node]:
                    comp = []
                    while True:
                        x = stack.pop()
                        on_stack.discard(x)
                        comp.append(x)
                        if x == node:
                            break
                    out.append(comp)
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    out.reverse()
    return out


def on_a_cycle(comp: Sequence[str], edges: Mapping[str, Sequence[str]]) -> bool:
    """Whether a component holds a cycle (more than one node, or a node with a self-loop)."""
    return len(comp) > 1 or comp[0] in edges[comp[0]]
