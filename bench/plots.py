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


def media_sweep(out_dir: Path, steps: list[dict], ceiling: dict) -> Path:
    """Left: forwarded packets/s and loss against load. Right: the bridge's CPU per forwarded
    packet beside the Python ceiling's, the comparison that holds whether or not the bridge is busy."""
    plt = _pyplot()
    fig, (rate, cost) = plt.subplots(1, 2, figsize=(12, 4.5))
    xs = [s["participants_total"] for s in steps]
    rate.plot(xs, [s["forwarded_pps"] for s in steps], marker="o", color=COLOURS["ours"], label="forwarded pps")
    rate.set_xlabel("participants (all publishing and receiving)")
    rate.set_ylabel("packets/s")
    rate.grid(True, alpha=0.3)
    loss = rate.twinx()
    loss.plot(xs, [100 * s["loss"] for s in steps], marker="x", linestyle="--", color="tab:red", label="loss %")
    loss.set_ylabel("loss %")
    rate.legend(loc="upper left", fontsize="small")
    loss.legend(loc="upper right", fontsize="small")
    rate.set_title("bridge: throughput and loss against load")
    points = [(x, s["cpu_us_per_packet"]) for x, s in zip(xs, steps) if s.get("cpu_us_per_packet")]
    if points:
        cost.plot(*zip(*points), marker="o", color=COLOURS["ours"], label="bridge: µs CPU per forwarded packet")
    for key, label, style in (("protect_sendto_video", "ceiling: protect + sendto", "--"),
                              ("forward_video", "ceiling: unprotect + rewrite + protect + sendto", ":")):
        if ceiling.get(key, {}).get("pps"):
            cost.axhline(1e6 / ceiling[key]["pps"], linestyle=style, color=COLOURS["ceiling"], label=label)
    cost.set_xlabel("participants")
    cost.set_ylabel("µs of CPU per packet")
    cost.set_yscale("log")
    cost.grid(True, which="both", alpha=0.3)
    cost.legend(fontsize="small")
    cost.set_title("CPU per packet: bridge beside the Python ceiling")
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"media-sweep-{_stamp()}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def soak(out_dir: Path, samples: list[dict], services: tuple[str, ...]) -> Path:
    """RSS, open fds, asyncio tasks and event-loop lag over time, one line per service; the
    participants online shaded behind the RSS panel."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(12, 7), sharex=True)
    ts = [s["t"] / 60 for s in samples]
    panels = (("rss_mb", "RSS MB", 1), ("fds", "open fds", 1), ("tasks", "asyncio tasks", 1),
              ("lag_s", "event-loop lag ms (worst of 5 s)", 1000))
    for ax, (key, title, scale) in zip(axes.flat, panels):
        for name in services:
            points = [(t, s["services"][name][key] * scale) for t, s in zip(ts, samples)
                      if s["services"][name].get(key) is not None]
            if points:
                ax.plot(*zip(*points), label=name)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    people = axes[0][0].twinx()
    people.fill_between(ts, [s["participants"] for s in samples], step="post", alpha=0.12, color="tab:gray")
    people.set_ylabel("participants online")
    axes[0][0].legend(fontsize="small", loc="upper left")
    for ax in axes[1]:
        ax.set_xlabel("minutes")
    fig.suptitle("soak: per-service resources over time")
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"soak-{_stamp()}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
