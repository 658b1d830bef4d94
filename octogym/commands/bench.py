"""``octogym bench``: score agents on a frozen benchmark version (:mod:`octogym.benchmark`).

    octogym bench --version v1 --agents adaptive runs/<my-run> --out bench/
    octogym bench --version tiny --agents zoo:TBUAssign-v0 adaptive
    octogym bench --version v1 --leaderboard docs/leaderboard.md   # regenerate the page's rows

Agents: scheduler names, ``rollout:<base>`` planner specs, checkpoints (a train.py run
directory or a .zip) and ``zoo:<name>`` for a bundled checkpoint (``octogym.agents`` package
data, so it works from an installed wheel). Default: :data:`LEADERBOARD_AGENTS`. Prints the
Markdown leaderboard rows and each agent's per-task table; ``--out`` writes one JSON result
per agent; ``--leaderboard FILE`` also writes the JSON results next to FILE
(``<FILE stem>/<version>/``) and replaces the rows between FILE's row markers of the version
by the rows of every result in that folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def markers(version: str) -> tuple[str, str]:
    """The comments around a page's rows of ``version``."""
    return (f"<!-- leaderboard rows {version}: begin (octogym bench --leaderboard) -->",
            f"<!-- leaderboard rows {version}: end -->")

#: The leaderboard's agents: every heuristic, the rollout planner over adaptive, and every
#: bundled checkpoint.
PLANNER = "rollout:adaptive"


def leaderboard_agents() -> list[str]:
    """Every scheduler, :data:`PLANNER` and ``zoo:<name>`` of every bundled checkpoint."""
    from octogym.agents.base import zoo_checkpoints
    from octogym.schedulers import SCHEDULERS

    return [*SCHEDULERS, PLANNER, *(f"zoo:{p.name}" for p in zoo_checkpoints())]


def resolve_spec(spec: str) -> str:
    """``zoo:<name>`` as the bundled run directory; any other spec unchanged. An unknown zoo
    name is a ``ValueError`` listing the bundled ones."""
    if not spec.startswith("zoo:"):
        return spec
    from octogym.agents.base import zoo_checkpoints

    zoo = {p.name: p for p in zoo_checkpoints()}
    if spec[4:] not in zoo:
        raise ValueError(f"{spec!r}: no bundled checkpoint of that name; bundled: "
                         f"{', '.join('zoo:' + n for n in zoo) or 'none'}")
    return str(zoo[spec[4:]])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from octogym.benchmark import VERSIONS

    ap = argparse.ArgumentParser(prog="octogym bench", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("--version", "--benchmark", default="v1", choices=sorted(VERSIONS),
                    dest="version", help="benchmark version (default v1)")
    ap.add_argument("--agents", nargs="+", default=None, metavar="SPEC",
                    help="agents to score (default: every heuristic, rollout:adaptive and the "
                         "bundled checkpoints)")
    ap.add_argument("--out", type=Path, default=None, help="folder for the JSON results")
    ap.add_argument("--leaderboard", type=Path, default=None, metavar="FILE",
                    help="rewrite the rows of this Markdown page (and its JSON results)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--list", action="store_true", help="list the version's tasks and exit")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return ap.parse_args(argv)


def replace_rows(page: str, version: str, rows: str) -> str:
    """``page`` with the text between its row markers of ``version`` replaced by ``rows``."""
    begin, end = markers(version)
    if begin not in page or end not in page:
        raise ValueError(f"the page lacks the row markers {begin!r} / {end!r}")
    head, rest = page.split(begin, 1)
    return head + begin + "\n" + rows + "\n" + end + rest.split(end, 1)[1]


def page_rows(page: str, version: str) -> str:
    """The rows between a page's markers of ``version`` (what :func:`replace_rows` put)."""
    begin, end = markers(version)
    return page.split(begin, 1)[1].split(end, 1)[0].strip("\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from octogym import benchmark as B

    if args.list:
        print(f"octogym-bench {args.version} (definition hash {B.definition_hash(args.version)})")
        for t in B.tasks(args.version):
            print(f"{t.name:40s} {t.n_requests} requests, {t.seeds} seeds")
        return 0
    if args.jobs < 1:
        print("octogym bench: error: --jobs must be positive", file=sys.stderr)
        return 2
    specs = list(dict.fromkeys(args.agents or leaderboard_agents()))
    try:
        if args.leaderboard is not None:
            replace_rows(args.leaderboard.read_text(), args.version, "")  # markers present?
        resolved = [resolve_spec(s) for s in specs]
        B.check_agents(resolved)
    except (ValueError, OSError) as e:
        print(f"octogym bench: error: {e}", file=sys.stderr)
        return 2
    results = B.run_benchmark(args.version, resolved, jobs=args.jobs,
                              progress=not args.no_progress)
    for r, s in zip(results, specs, strict=True):
        r["spec"] = s  # as given (zoo:<name>, not the install path)
    rows = B.markdown_rows(results)
    print(rows)
    for r in results:
        print(f"\n{r['agent']} on octogym-bench {r['version']} ({r['definition_hash']}):")
        print(B.task_table(r))
        for task, why in r["skipped"].items():
            print(f"  skipped {task}: {why}")
    written = B.write_results(results, args.out) if args.out else []
    if args.leaderboard is not None:
        page = args.leaderboard
        folder = page.parent / page.stem / args.version
        written += B.write_results(results, folder)
        # the page lists every result of the version (earlier runs' agents too)
        page.write_text(replace_rows(page.read_text(), args.version, rows_of_results(folder)))
        written.append(page)
    if written:
        print("\nwrote " + " ".join(str(p) for p in written))
    return 0


def rows_of_results(folder: Path) -> str:
    """The leaderboard rows of every JSON result in ``folder``."""
    from octogym.benchmark import markdown_rows

    return markdown_rows([json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))])
