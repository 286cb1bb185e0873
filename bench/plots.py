"""PNG plots a person can read: latency CDFs and throughput against load, ours beside the anchors."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from .stats import cdf

COLOURS = {"ours": "tab:blue", "prosody": "tab:orange", "ejabberd": "tab:green", "ceiling": "tab:gray"}


def _pyplot():
    import matplotlib  # noqa: PLC0415 - only the plotting step needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def latency_cdfs(out_dir: Path, name: str, title: str, panels: dict[str, dict[str, list[float]]]) -> Path:
    """One panel per metric (samples in seconds, drawn in ms), one line per server."""
    plt = _pyplot()
    drawn = {metric: per_server for metric, per_server in panels.items() if any(per_server.values())}
    if not drawn:
        raise ValueError("nothing to plot: every sample is empty")
    fig, axes = plt.subplots(1, len(drawn), figsize=(5 * len(drawn), 4), squeeze=False)
    for ax, (metric, per_server) in zip(axes[0], drawn.items()):
        for server, samples in per_server.items():
            xs, ys = cdf([s * 1000 for s in samples])
            if xs:
                ax.step(xs, ys, where="post", label=f"{server} (n={len(samples)})", color=COLOURS.get(server))
        ax.set_title(metric)
        ax.set_xlabel("ms")
        ax.set_ylabel("fraction ≤ x")
        ax.set_xscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}-{_stamp()}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def xmpp(out_dir: Path, mode: str, transport: str, samples: dict[str, dict[str, list[float]]]) -> list[Path]:
    metrics = ("login", "join", "newcomer") if mode == "bigroom" else ("login", "join", "e2e")
    labels = {"login": "connect+auth+bind", "join": "MUC join", "e2e": "groupchat end to end",
              "newcomer": "newcomer: every presence"}
    panels = {labels[m]: {server: s[m] for server, s in samples.items()} for m in metrics}
    return [latency_cdfs(out_dir, f"xmpp-{mode}-{transport}", f"xmpp {mode} over {transport}", panels)]


def throughput(out_dir: Path, name: str, title: str, series: dict[str, list[tuple[float, float]]],
               xlabel: str, ylabel: str, ceiling: float | None = None) -> Path:
    """Lines of (load, rate) per series; an optional horizontal ceiling."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, points in series.items():
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", label=label, color=COLOURS.get(label))
    if ceiling:
        ax.axhline(ceiling, linestyle="--", color=COLOURS["ceiling"], label="Python ceiling (protect + sendto)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}-{_stamp()}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
