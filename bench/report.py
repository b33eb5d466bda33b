"""docs/benchmarks.md from bench/run.py's results: tables, ratios, charts."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PEERS = ("kubeloop", "client-go", "kopf", "official")
LABELS = {
    "kubeloop": "kubeloop (dict mode)",
    "client-go": "client-go v0.37.2",
    "kopf": "kopf",
    "official": "official client",
}

# (result key, column title, format); lower is better for every one.
S1 = [
    ("s1_synced_s", "caches synced s", "{:.2f}"),
    ("s1_all_s", "all reconciled s", "{:.2f}"),
    ("s1_cpu_s", "CPU s", "{:.2f}"),
    ("s1_peak_rss_mb", "peak RSS MB", "{:.0f}"),
    ("steady_rss_mb", "steady RSS MB", "{:.0f}"),
    ("rss_per_object_kb", "RSS/object KB", "{:.2f}"),
    ("peak_over_steady", "peak/steady", "{:.2f}"),
]
S2 = [
    ("s2_write_s", "writes took s", "{:.2f}"),
    ("s2_drain_s", "first write to last reconcile s", "{:.2f}"),
    ("s2_lag_s", "last write to last reconcile s", "{:.2f}"),
    ("s2_cpu_per_1k", "CPU s per 1,000 events", "{:.3f}"),
]
S3 = [
    ("s3_idle_cpu_pct", "idle CPU %", "{:.2f}"),
    ("s3_rss_mb", "RSS MB", "{:.0f}"),
]


def _version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def machine_info(go_binary: Path) -> dict[str, Any]:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    packages = {}
    for name in ("kubeloop", "msgspec", "httpx", "kopf", "kubernetes", "matplotlib"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    from kubeloop.testenv import _controlplane

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": f"{platform.python_version()} ({sys.implementation.name})",
        "go": _version(["go", "version"]),
        "client_go": "k8s.io/client-go v0.37.2",
        "packages": packages,
        "apiserver": getattr(_controlplane, "KUBERNETES_VERSION", "1.37 (testenv)"),
    }


def _median(rs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rs if r.get(key) is not None]
    return statistics.median(values) if values else None


def medians(results: list[dict[str, Any]]) -> dict[tuple[int, str], dict[str, Any]]:
    out: dict[tuple[int, str], dict[str, Any]] = {}
    for r in results:
        if "steady_rss_mb" in r and "s1_peak_rss_mb" in r:
            r["peak_over_steady"] = r["s1_peak_rss_mb"] / r["steady_rss_mb"]
    for key in {(r["n"], r["peer"]) for r in results}:
        rs = [r for r in results if (r["n"], r["peer"]) == key]
        fields = {k for r in rs for k in r} - {"peer", "n", "rep", "error"}
        m: dict[str, Any] = {f: _median(rs, f) for f in fields}
        m["runs"] = len(rs)
        m["errors"] = [r["error"] for r in rs if "error" in r]
        out[key] = m
    return out


def _table(
    meds: dict[tuple[int, str], dict[str, Any]], n: int, cols: list[tuple[str, str, str]]
) -> list[str]:
    peers = [p for p in PEERS if (n, p) in meds]
    head = "| peer | " + " | ".join(f"{title} | kubeloop/peer" for _, title, _ in cols) + " |"
    lines = [head, "|---" * (1 + 2 * len(cols)) + "|"]
    ours = meds.get((n, "kubeloop"), {})
    for peer in peers:
        m = meds[(n, peer)]
        cells = [LABELS[peer]]
        for key, _, fmt in cols:
            v, k = m.get(key), ours.get(key)
            cells.append(fmt.format(v) if v is not None else "n/a")
            # The lag is within the timer's noise of 0 for most peers: no ratio.
            no_ratio = peer == "kubeloop" or key == "s2_lag_s"
            cells.append("" if no_ratio else _ratio(k, v))
        lines.append("| " + " | ".join(cells) + " |")
    errs = [f"{p}: {e}" for p in peers for e in meds[(n, p)]["errors"]]
    if errs:
        lines += ["", "Failed runs (excluded from the medians): " + "; ".join(errs)]
    return lines


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None:
        return "n/a"
    if theirs <= 0:
        return "both 0" if ours <= 0 else "inf (peer 0)"
    return f"{ours / theirs:.2f}x"


def _charts(meds: dict[tuple[int, str], dict[str, Any]], sizes: list[int], img: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img.mkdir(parents=True, exist_ok=True)
    charts = [
        ("bench-s1.png", "S1 initial sync", S1[1:3] + S1[5:6]),
        ("bench-s2.png", "S2 update storm", [S2[1], S2[3]]),
        ("bench-s3.png", "S3 idle", S3),
    ]
    names = []
    colors = {"kubeloop": "#2a7", "client-go": "#37c", "kopf": "#c73", "official": "#888"}
    for fname, title, cols in charts:
        fig, axes = plt.subplots(1, len(cols), figsize=(4.2 * len(cols), 3.6))
        axes = axes if len(cols) > 1 else [axes]
        for ax, (key, col, _) in zip(axes, cols, strict=True):
            width = 0.8 / len(PEERS)
            for j, peer in enumerate(PEERS):
                xs, ys = [], []
                for i, n in enumerate(sizes):
                    v = meds.get((n, peer), {}).get(key)
                    if v is not None:
                        xs.append(i + j * width)
                        ys.append(v)
                ax.bar(xs, ys, width, label=LABELS[peer], color=colors[peer])
            ax.set_xticks([i + 0.4 - width / 2 for i in range(len(sizes))])
            ax.set_xticklabels([f"N={n:,}" for n in sizes])
            ax.set_title(col, fontsize=10)
            if all(v > 0 for (n, _), m in meds.items() if (v := m.get(key)) is not None):
                ax.set_yscale("log")
            ax.grid(axis="y", alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{title} (lower is better; log scale where no value is 0)", fontsize=11)
        fig.tight_layout()
        fig.savefig(img / fname, dpi=90)
        plt.close(fig)
        names.append(fname)
    return names


def _targets(meds: dict[tuple[int, str], dict[str, Any]], n: int) -> list[str]:
    """The issue's targets, as kubeloop/peer ratios: met or missed."""
    k = meds.get((n, "kubeloop"))
    if not k:
        return []
    out = []

    def check(what: str, key: str, peer: str, limit: float) -> None:
        p = meds.get((n, peer), {})
        if k.get(key) is None or p.get(key) is None:
            out.append(f"| {what} | vs {LABELS[peer]} | n/a | {limit}x | not measured |")
            return
        if not p[key]:
            verdict = "met (both 0)" if not k[key] else "**missed** (peer 0)"
            ratio_text = _ratio(k[key], p[key])
            out.append(f"| {what} | vs {LABELS[peer]} | {ratio_text} | {limit}x | {verdict} |")
            return
        ratio = k[key] / p[key]
        verdict = "met" if ratio <= limit else "**missed**"
        out.append(f"| {what} | vs {LABELS[peer]} | {ratio:.2f}x | {limit}x | {verdict} |")

    check("S1 time to caches synced", "s1_synced_s", "client-go", 1.0)
    check("S1 time to all reconciled", "s1_all_s", "client-go", 1.0)
    check("S1 CPU seconds", "s1_cpu_s", "client-go", 2.0)
    check("S1 RSS per cached object (dict mode)", "rss_per_object_kb", "client-go", 2.0)
    pos = k.get("peak_over_steady")
    if pos is not None:
        verdict = "met" if pos <= 1.5 else "**missed**"
        out.append(f"| S1 peak RSS / steady RSS | itself | {pos:.2f} | 1.5 | {verdict} |")
    check("S2 time to drain the storm", "s2_drain_s", "client-go", 1.0)
    check("S2 CPU per 1,000 events", "s2_cpu_per_1k", "client-go", 2.0)
    for peer in ("kopf", "official"):
        for key, what in [
            ("s1_all_s", "S1 time to all reconciled"),
            ("s1_cpu_s", "S1 CPU seconds"),
            ("rss_per_object_kb", "S1 RSS per object"),
            ("s2_drain_s", "S2 drain time"),
            ("s2_cpu_per_1k", "S2 CPU per 1,000 events"),
            ("s3_idle_cpu_pct", "S3 idle CPU"),
        ]:
            check(f"{what} (5x better)", key, peer, 0.2)
    head = ["| target | against | kubeloop/peer | limit | verdict |", "|---|---|---|---|---|"]
    return head + out


def write(
    out: Path, results: list[dict[str, Any]], meta: dict[str, Any], micro: dict[str, str]
) -> None:
    meds = medians(results)
    sizes = meta["sizes"]
    charts = _charts(meds, sizes, out.parent / "img")
    raw = out.with_suffix(".json")
    raw.write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    pk = meta["packages"]
    L: list[str] = [
        "# Benchmarks: kubeloop next to client-go, kopf and the official Python client",
        "",
        f"Generated by `{'make bench-quick' if meta['mode'] == 'quick' else 'make bench'}` "
        f"(`bench/run.py`, {meta['mode']} mode) in {meta['elapsed_s'] / 60:.1f} minutes; "
        f"raw results in [{raw.name}]({raw.name}). Do not edit by hand.",
        "",
        "Each peer does the Network controller's job on the same real API server "
        "(testenv: kube-apiserver and etcd on loopback), one peer process at a time: "
        "list and watch the Networks of one namespace, put keys on a queue, "
        f"{meta['workers']} workers read the object from the cache and compare it with an "
        "in-memory no-op backend. **No peer writes anything back** (no status, no Events, "
        "no annotations), so the API server serves the same reads to each.",
        "",
        "- **kubeloop**: `python -m network_controller --backend noop --no-api-writes "
        "--resync 0 --kube-api-qps 0` (dict mode: objects are plain dicts; typed mode "
        "is not in this run). It also runs what the real controller runs: a Deployment "
        "informer (the namespace has none) and one backend sweep after sync; it logs one "
        "klog line per reconcile, which the harness counts.",
        "- **client-go**: `bench/peers/go`, the sample-controller pattern with the dynamic "
        "informer (a CRD has no generated clientset here), unstructured objects, "
        "`workqueue.TypedRateLimitingQueue`, resync 0, QPS unthrottled. Prints one line per "
        "reconcile.",
        "- **kopf**: `bench/peers/kopf_peer.py`, one async handler for "
        "create/update/resume, `standalone` (no peering), namespaced. To write nothing its "
        "diff base is kept in memory instead of the `last-handled-configuration` annotation "
        "(kopf's default costs one PATCH per object and per change) and Event posting is "
        "off; its INFO logging per handler stays on, as `kopf run` has it. kopf has no "
        'informer cache and no "synced" moment, hence n/a there.',
        "- **official**: `bench/peers/official_peer.py`, `kubernetes.informer.SharedInformer` "
        "on `CustomObjectsApi` (with a small adapter: that informer expects typed list "
        "models), a de-duplicating key queue and worker threads.",
        "",
        "How each figure is taken (CPU and memory from the kernel's accounting of the peer "
        "process, `/proc/<pid>/stat` utime+stime and `/proc/<pid>/status` VmRSS/VmHWM; "
        "times on the harness's monotonic clock when it reads the peer's lines):",
        "",
        "- S1: from process start to caches synced and to the last of the N keys "
        "reconciled; CPU seconds and peak RSS (VmHWM) at that moment; steady RSS 2 s later; "
        "RSS per object = (steady RSS - RSS of the same peer watching an empty namespace) / N.",
        "- S2: the harness patches every Network's `spec.gateway` from 16 threads "
        "(kubeloop client, unthrottled); drain = first write to the last of the N keys "
        "reconciled; CPU per 1,000 events = CPU seconds in that span / N x 1,000. The "
        "harness's writes share the 2 cores with the API server and the peer, so the "
        "write rate bounds the drain time; last write to last reconcile is the lag the "
        "controller adds after the server has taken the last update.",
        f"- S3: CPU % and RSS over {meta['idle_s']:.0f} s with nothing changing, N objects cached.",
        "- Ratios are kubeloop/peer: below 1.00x kubeloop uses less time, CPU or memory; "
        "above 1.00x it uses more (worse).",
        "",
        "## Machine and versions",
        "",
        f"- {meta['nproc']} CPUs, {meta['cpu']}, Linux {meta['kernel']}",
        f"- load average (1, 5, 15 min) before: "
        f"{', '.join(f'{x:.2f}' for x in meta['load_before'])}; after: "
        f"{', '.join(f'{x:.2f}' for x in meta['load_after'])} (other work on this machine "
        "may run at the same time)",
        f"- Python {meta['python']}; {meta['go']}; {meta['client_go']}; "
        f"API server {meta['apiserver']}",
        "- packages: " + ", ".join(f"{k} {v}" for k, v in pk.items()),
        f"- object counts {', '.join(f'{n:,}' for n in sizes)}; {meta['repeat']} "
        f"repetition(s), medians; peer order rotated per repetition; creating the objects "
        "took " + ", ".join(f"{s:.0f} s ({n:,})" for n, s in meta["seeding_s"].items()),
        "- each peer watching an empty namespace, 3 s after start (runtime, imports, an "
        "empty informer): "
        + ", ".join(
            f"{LABELS[p]} {v:.0f} MB RSS and {meta['baseline_cpu_s'][p]:.2f} CPU s"
            for p, v in meta["baseline_rss_mb"].items()
        ),
        "",
    ]
    for title, cols, chart in [
        ("S1 initial sync", S1, charts[0]),
        ("S2 update storm (N spec updates)", S2, charts[1]),
        ("S3 steady state (idle)", S3, charts[2]),
    ]:
        L += [f"## {title}", ""]
        for n in sizes:
            L += [f"N = {n:,}", "", *_table(meds, n, cols), ""]
        L += [f"![{title}](img/{chart})", ""]
    L += ["## Targets from the issue", ""]
    for n in sizes:
        L += [f"N = {n:,}", "", *_targets(meds, n), ""]
    L += [
        "## S4 micro benchmarks",
        "",
        "Output of `bench/workqueue/bench_workqueue.py` (kubeloop.workqueue and client-go's "
        "workqueue) and `bench/informer/bench_delta_throughput.py` (kubeloop informer from an "
        "in-memory source), run by the same command:",
        "",
    ]
    for name, text in micro.items():
        L += [f"### {name}", "", "```", text.strip(), "```", ""]
    if not micro:
        L += ["Not run (`--no-micro`).", ""]
    L += [
        "## Not measured here",
        "",
        "- S2 maximum workqueue depth (no peer exports it in a comparable way yet).",
        "- kubeloop typed mode (typed resources are not in the Network controller yet).",
        "",
    ]
    out.write_text("\n".join(L))
