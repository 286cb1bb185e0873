"""python -m bench.report [results.jsonl]: the latest run of each kind as Markdown tables, for README.md."""

from __future__ import annotations

import sys
from pathlib import Path

from . import results
from .results import DEFAULT_DIR

COLUMNS = {
    "xmpp": (("login p50/p99 ms", "login_ms"), ("join p50/p99 ms", "join_ms"), ("e2e p50/p99 ms", "e2e_ms"),
             ("newcomer p50/p99 ms", "newcomer_all_presences_ms"), ("conf. request p50 ms", "conference_request_ms"),
             ("fan-out /s", "fanout_per_s"), ("lost", "lost"), ("CPU s", "server.total.cpu_s"),
             ("peak RSS MB", "server.total.peak_rss_mb")),
    "media": (("knee: participants", "knee.participants_total"), ("forwarded pps", "forwarded_pps"),
              ("latency p50/p99 ms", "knee.latency_ms"), ("µs CPU per packet", "knee.cpu_us_per_packet"),
              ("pps per CPU-s", "pps_per_cpu_s"), ("audio share", "knee.audio_share"),
              ("ceiling: protect+sendto pps (audio-sized)", "protect_sendto_audio.pps"),
              ("ceiling: protect+sendto pps (video-sized)", "protect_sendto_video.pps"),
              ("ceiling: video-sized AES-CM pps", "protect_sendto_video_aes_cm.pps"),
              ("ceiling: forward loop pps", "forward_video.pps")),
    "conference": (("MUC join p50 ms", "muc_join_ms"), ("offer p50 ms", "offer_ms"),
                   ("first media p50/p99 ms", "first_media_ms"), ("checks all flowing", "checks_all_flowing"),
                   ("recovery s", "recovery_s")),
    "browser": (("first remote frame median ms", "median_ms"), ("page weight KB", "page_weight_kb"),
                ("main-thread cores in a meeting", "main_thread_cores")),
    "recording": tuple((f"{res} {title}", f"{res}.{key}") for res in ("720p", "1080p") for title, key in (
        ("CPU s per recorded s", "cpu_s_per_recorded_s"), ("CPU s per s at full rate", "full_rate_cpu_s_per_s"),
        ("peak RSS MB", "peak_rss_mb"),
        ("frames dropped", "frames_dropped"), ("A/V sync mean ms", "sync_ms.mean"),
        ("A/V sync worst ms", "sync_ms.worst"))),
    "transcription": (("WER (test voice)", "wer.en-us+klatt2"), ("WER (second voice)", "wer.en-us+f5"),
                      ("real-time factor", "flat_out.rtf"), ("CPU s per audio s", "flat_out.cpu_rtf"),
                      ("speakers per core by CPU", "speakers_per_core_by_cpu"),
                      ("speakers kept up", "speakers_kept_up"), ("speakers per core", "speakers_per_core"),
                      ("caption latency p50 s", "caption_latency_p50_s"),
                      ("caption latency p90 s", "caption_latency_p90_s")),
    "soak": (("RSS MB first fifth", "rss_mb_first"), ("RSS MB last fifth", "rss_mb_last"),
             ("RSS bound MB", "rss_mb_bound"), ("fds baseline", "fds_baseline"), ("fds at the end", "fds_final"),
             ("tasks baseline", "tasks_baseline"), ("tasks at the end", "tasks_final"),
             ("loop lag p50/p99 ms", "loop_lag_ms"), ("waves", "waves"), ("joins", "joins"),
             ("chat delivered", "chat_delivered"), ("chat expected", "chat_expected"),
             ("media packets", "media_packets")),
}


def kind(result: dict) -> str:
    p = result["params"]
    if result["workload"] == "media":
        return f"media, {p['conferences']} conference(s), max height {p.get('max_height') or 'bridge default'}"
    if result["workload"] == "conference":
        kill = ", bridge killed" if p.get("kill_bridge_at") is not None else ""
        return f"conference, {p['conferences']} x {p['participants']}{kill}"
    if result["workload"] == "soak":
        return f"soak, {p['minutes']:g} min, {p['lanes']} lanes x {p['rooms']} x {p['participants']}"
    if result["workload"] != "xmpp":
        return result["workload"]
    mode = "big room" if p.get("big_room") else ("focus" if p.get("focus") else "chat")
    size = f"{p['occupants']} occupants" if p.get("big_room") else f"{p['clients']} clients/{p['rooms']} rooms"
    return f"xmpp {mode}, {p['transport']}, {size}"


def _get(figures: dict, dotted: str):
    value = figures
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, dict):
        if not value.get("count"):
            return "–"
        return f"{value['p50']:.3g} / {value['p99']:.3g}"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def tables(all_results: list[dict]) -> str:
    latest: dict[str, dict] = {}
    for result in all_results:
        latest[kind(result)] = result
    out = []
    for name, result in latest.items():
        columns = COLUMNS[result["workload"]]
        shown = [(title, key) for title, key in columns
                 if any(_get(f, key) is not None for f in result["servers"].values())]
        m = result["machine"]
        out.append(f"**{name}** — {result['started']}, {m['cores']} × {m['cpu']}, load {m.get('loadavg')}"
                   + ("" if result["ok"] else f"; errors: {'; '.join(e.splitlines()[0] for e in result['errors'])}"))
        out.append("")
        out.append("| server | " + " | ".join(t for t, _ in shown) + " |")
        out.append("|---" * (len(shown) + 1) + "|")
        for server, figures in result["servers"].items():
            version = f" {figures['version']}" if figures.get("version") else ""
            out.append(f"| {server}{version} | " + " | ".join(_fmt(_get(figures, k)) for _, k in shown) + " |")
        steps = result["servers"].get("bridge", {}).get("steps") if result["workload"] == "media" else None
        if steps:
            out.append("")
            out.append("| participants | sent pps | forwarded pps | loss | audio delivery | latency p50/p99 ms "
                       "| bridge CPU share | bench CPU share | drops at bridge socket |")
            out.append("|---" * 9 + "|")
            for step in steps:
                retried = " (retried)" if step.get("retried") else ""
                out.append(f"| {step['participants_total']}{retried} | {_fmt(step['sent_pps'])} "
                           f"| {_fmt(step['forwarded_pps'])} "
                           f"| {step['loss']:.2%} | {step['audio_delivery']:.3f} | {_fmt(step['latency_ms'])} "
                           f"| {step['bridge_cpu_share']:.3f} | {_fmt(step.get('bench_cpu_share'))} "
                           f"| {_fmt(step.get('bridge_socket_drops'))} |")
        for anchor, ratios in result["ratios"].items():
            if ratios:
                pairs = ", ".join(f"{k} {v:.3g}" for k, v in ratios.items())
                out.append(f"\nours / {anchor}: {pairs}")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR / "results.jsonl"
    print(tables(results.load(path)))
