"""The logs of a ``train.py`` run: SB3's logger writing ``progress.csv`` (appended to on
``--resume``) and TensorBoard events, and the learning curve ``curve.png``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from stable_baselines3.common.logger import CSVOutputFormat, Logger, make_output_format

from octogym.agents.checkpoint import atomic_write

PROGRESS = "progress.csv"
STEP_KEY = "time/total_timesteps"


class AppendingCSV(CSVOutputFormat):
    """SB3's CSV writer continuing an existing file (SB3's own truncates it): the header's
    columns are kept and extended as SB3 extends them (it rewrites the file in place)."""

    def __init__(self, filename: str | Path) -> None:
        path = Path(filename)
        if not path.is_file():
            super().__init__(str(path))
            return
        self.file = path.open("r+")
        header = self.file.readline().rstrip("\n")
        self.keys = header.split(",") if header else []
        self.file.seek(0, 2)  # append after the last row
        self.separator = ","
        self.quotechar = '"'


def keep_rows_until(path: Path, step: int, key: str = STEP_KEY) -> int:
    """Drop the rows of CSV log ``path`` whose column ``key`` is past env step ``step`` (a
    killed run logged them after its last checkpoint; the resumed run logs those steps
    again) and any torn row. Rewritten atomically; returns the rows kept."""
    if not path.is_file():
        return 0
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return 0
    header, body = rows[0], rows[1:]
    col = header.index(key) if key in header else None
    kept = [r for r in body if len(r) == len(header)
            and (col is None or not r[col] or float(r[col]) <= step)]

    def write(f: Any) -> None:
        text = "".join(",".join(_quote(v) for v in r) + "\n" for r in [header, *kept])
        f.write(text.encode())
    atomic_write(path, write)
    return len(kept)


def _quote(value: str) -> str:
    """A CSV field as SB3's writer quotes it (strings with a separator or quote)."""
    if any(c in value for c in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def make_logger(out: Path, tensorboard: bool, resume_step: int | None = None) -> Logger:
    """SB3 logger for run folder ``out``: ``progress.csv`` (continued after the rows up to
    ``resume_step`` when resuming, else started afresh) and, if ``tensorboard``, event files
    (TensorBoard handles several event files in one folder)."""
    path = out / PROGRESS
    if resume_step is None:
        fmt = [make_output_format("csv", str(out))]
    else:
        keep_rows_until(path, resume_step)
        fmt = [AppendingCSV(path)]
    if tensorboard:
        fmt.append(make_output_format("tensorboard", str(out)))
    return Logger(folder=str(out), output_formats=fmt)


def plot_curve(out: Path, title: str = "") -> Path:
    """``curve.png`` in ``out``: episode return (VecMonitor, progress.csv) and held-out mean
    latency (eval.csv, with eval_references.json as dashed lines) against env steps."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    def column(path: Path, x: str, y: str) -> tuple[list[float], list[float]]:
        xs, ys = [], []
        if path.is_file():
            with path.open() as f:
                for row in csv.DictReader(f):
                    if row.get(x) and row.get(y):
                        xs.append(float(row[x]))
                        ys.append(float(row[y]))
        return xs, ys

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    xs, ys = column(out / PROGRESS, STEP_KEY, "rollout/ep_rew_mean")
    a.plot(xs, ys, color="C0")
    a.set(xlabel="env steps", ylabel="episode return (mean of last 100)",
          title="training episodes")
    xs, ys = column(out / "eval.csv", "timesteps", "latency_mean_us")
    b.plot(xs, ys, "o-", color="C1", label="this policy")
    refs_path = out / "eval_references.json"
    if refs_path.is_file():
        refs = json.loads(refs_path.read_text())
        for i, (name, value) in enumerate(sorted(refs.items(), key=lambda kv: kv[1])):
            b.axhline(value, ls="--", lw=1, color=f"C{(i + 2) % 10}", label=name)
        b.legend(fontsize=7, loc="best")
    b.set(xlabel="env steps", ylabel="mean latency (us)", title="held-out episodes")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = out / "curve.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def finish_run(out: Path, run: Any, eval_every: int, eval_episodes: int) -> None:
    """What every ``train.py`` run writes once trained: the heuristics' held-out latency on
    the same episodes as the learning curve (``eval_references.json``, when held-out
    evaluation was on and ``run.references`` names any) and the learning curve
    (``curve.png``). A plot that fails is reported, not raised: the run itself is done."""
    import sys

    from octogym.agents.heldout import reference_latency

    if eval_every > 0 and run.references:
        refs = reference_latency(run.env, run.env_kwargs, run.references, eval_episodes)
        (out / "eval_references.json").write_text(json.dumps(refs, indent=2) + "\n")
        print("train.py: held-out mean latency (us): "
              + ", ".join(f"{k} {v:.1f}" for k, v in refs.items()))
    try:
        plot_curve(out, title=f"{run.env} {run.algo} seed {run.seed}")
        print(f"train.py: learning curve {out / 'curve.png'}")
    except Exception as e:  # a missing plot must not fail a finished run
        print(f"train.py: no learning curve ({type(e).__name__}: {e})", file=sys.stderr)
