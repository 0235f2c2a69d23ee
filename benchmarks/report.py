"""Turn a run's raw rounds into medians, ratios, Markdown tables, PNG charts and the docs page."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from typing import Any

from benchmarks.catalog import SCENARIOS, SERVERS, Scenario
from benchmarks.procs import ROOT

DOCS = ROOT / "docs" / "benchmarks.md"
DOC_CHARTS = ROOT / "benchmarks" / "charts"
NOT_BUILT = ("has no attribute", "No module named 'asgiws", "asgiws not found")


def summarize(data: dict[str, Any]) -> None:
    """Add median, spread, CPU per operation and ratio to the reference, in place."""
    for scenario_id, block in data["scenarios"].items():
        scenario = SCENARIOS[scenario_id]
        servers: dict[str, Any] = block["servers"]
        for entry in servers.values():
            rounds = entry["rounds"]
            if not rounds:
                entry["median"] = None
                continue
            values = [r["value"] for r in rounds]
            entry["median"] = statistics.median(values)
            entry["spread"] = [min(values), max(values)]
            entry["unit"] = rounds[0]["unit"]
            entry["cpu_us_per_op"] = statistics.median(
                1e6 * r["server_cpu"] / max(r["ops"], 1) for r in rounds
            )
            entry["loadgen_cpu_share"] = statistics.median(
                r["loadgen_cpu"] / r["seconds"] for r in rounds
            )
            entry["loadgen_us_per_op"] = statistics.median(
                1e6 * r["loadgen_cpu"] / max(r["ops"], 1) for r in rounds
            )
            entry["other_cpu_share"] = max(r.get("other_cpu_share", 0.0) for r in rounds)
        reference = servers.get(scenario.reference, {}).get("median")
        for name, entry in servers.items():
            value = entry.get("median")
            entry["ratio"] = value / reference if value is not None and reference else None
            target = scenario.targets.get(name)
            if target is not None and value is not None:
                entry["target_met"] = target.met(value, entry["ratio"])
        uvicorn = servers.get("uvicorn-sansio", {}).get("median")
        asgi = servers.get("asgiws-asgi", {})
        if scenario_id == "f" and uvicorn and asgi.get("median"):
            asgi["ratio_to_uvicorn"] = asgi["median"] / uvicorn


def number(value: float | None) -> str:
    if value is None:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def reason_text(reason: str) -> str:
    if any(marker in reason for marker in NOT_BUILT):
        return f"n/a — not yet built ({reason})"
    return f"n/a — {reason}"


def scenario_table(scenario: Scenario, block: dict[str, Any]) -> list[str]:
    reference = SERVERS[scenario.reference].label.replace(" (reference)", "")
    show_targets = any(name in block["servers"] for name in scenario.targets)
    head = [
        "server",
        scenario.unit,
        f"x {reference}",
        "server CPU µs/op",
        "loadgen CPU",
        "rounds",
    ]
    if show_targets:
        head.append("target")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * 4 + "---|"]
    if show_targets:
        lines[1] += "---|"
    for name, entry in block["servers"].items():
        label = SERVERS[name].label
        if name == scenario.reference:
            label = f"**{label}**"
        target = scenario.targets.get(name)
        target_cell = ""
        if target is not None:
            met = entry.get("target_met")
            mark = "" if met is None else (" ✓" if met else " ✗")
            target_cell = f"{target.text}{mark}"
        if entry.get("median") is None:
            row = [label, reason_text(entry.get("reason") or "no result"), "", "", "", ""]
        else:
            rounds = " · ".join(number(r["value"]) for r in entry["rounds"])
            ratio = entry.get("ratio")
            row = [
                label,
                number(entry["median"]),
                f"{ratio:.2f}" if ratio is not None else "n/a",
                number(entry["cpu_us_per_op"]),
                f"{100 * entry['loadgen_cpu_share']:.0f} %",
                rounds,
            ]
        if show_targets:
            row.append(target_cell)
        lines.append("| " + " | ".join(row) + " |")
    return lines


def targets_table(data: dict[str, Any]) -> list[str]:
    idle = data["meta"]["idle_connections"]
    lines = [
        "| scenario | asgiws serve() | target | asgiws (ASGI) | target |",
        "|---|---:|---|---:|---|",
    ]
    for scenario_id, block in data["scenarios"].items():
        scenario = SCENARIOS[scenario_id]
        if not scenario.targets:
            continue
        cells = [f"{scenario.id}. {scenario.heading(idle)}"]
        for name in ("asgiws-native", "asgiws-asgi"):
            target = scenario.targets.get(name)
            entry = block["servers"].get(name)
            if target is None:
                cells += ["—", "—"]
                continue
            if entry is None:
                cells += ["not run", target.text]
                continue
            if entry.get("median") is None:
                cells += ["n/a", target.text]
                continue
            if target.value_at_most is not None:
                measured = f"{number(entry['median'])} {scenario.unit}"
            else:
                measured = f"{entry['ratio']:.2f}x" if entry.get("ratio") else "n/a"
            if scenario_id == "f" and entry.get("ratio_to_uvicorn"):
                measured += f" ({entry['ratio_to_uvicorn']:.2f}x uvicorn)"
            cells += [measured + (" ✓" if entry.get("target_met") else " ✗"), target.text]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def headroom_table(data: dict[str, Any]) -> list[str]:
    idle = data["meta"]["idle_connections"]
    lines = [
        "| scenario | minimal server | best other server | minimal ÷ best | loadgen CPU "
        "(driving minimal) | loadgen CPU µs/op |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for scenario_id, block in data["scenarios"].items():
        scenario = SCENARIOS[scenario_id]
        minimal = block["servers"].get("minimal", {})
        if scenario.reference != "minimal" or minimal.get("median") is None:
            continue
        others = [
            (entry["median"], name)
            for name, entry in block["servers"].items()
            if name != "minimal" and entry.get("median") is not None
        ]
        if not others:
            continue
        best, name = max(others) if scenario.higher_is_better else min(others)
        margin = minimal["median"] / best if scenario.higher_is_better else best / minimal["median"]
        gen = "wrk" if scenario.workload == "wrk" else "loadgen"
        lines.append(
            f"| {scenario.id}. {scenario.heading(idle)} | {number(minimal['median'])} | "
            f"{SERVERS[name].label}: {number(best)} | {margin:.2f}{' ⚠' if margin < 1 else ''} | "
            f"{gen} {100 * minimal['loadgen_cpu_share']:.0f} % | "
            f"{number(minimal['loadgen_us_per_op'])} |"
        )
    return lines


def noise_line(data: dict[str, Any]) -> str:
    shares = [
        r.get("other_cpu_share", 0.0)
        for block in data["scenarios"].values()
        for entry in block["servers"].values()
        for r in entry["rounds"]
    ]
    steal = [
        r.get("steal_share", 0.0)
        for block in data["scenarios"].values()
        for entry in block["servers"].values()
        for r in entry["rounds"]
    ]
    if not shares:
        return ""
    return (
        f"Other processes on the machine used a median {100 * statistics.median(shares):.0f} % "
        f"(max {100 * max(shares):.0f} %) of a CPU during the measuring windows; the hypervisor "
        f"stole a median {100 * statistics.median(steal):.0f} %. Figures taken while other work "
        "runs are noisier: compare CPU µs/op, which noise disturbs less than rates."
    )


def details(scenario_id: str, block: dict[str, Any]) -> list[str]:
    """Per-server facts worth a line under a table: broadcast latency, errors seen."""
    lines: list[str] = []
    for name, entry in block["servers"].items():
        label = SERVERS[name].label
        rounds = entry["rounds"]
        if not rounds:
            continue
        if scenario_id == "h":
            server_ms = statistics.median(r["extra"]["server_broadcast_ms"] for r in rounds)
            client_ms = statistics.median(r["extra"]["client_last_recipient_ms"] for r in rounds)
            lines.append(
                f"- {label}: the broadcast call took {server_ms:.1f} ms; the last recipient had "
                f"the message {client_ms:.1f} ms after the trigger was sent (client side)"
            )
        problems = []
        for r in rounds:
            extra = r.get("extra", {})
            if extra.get("errors"):
                problems.append(f"{extra['errors']} errors ({extra.get('last_error', '')})")
            for key in ("Non-2xx or 3xx responses", "Socket errors", "non_200"):
                if extra.get(key):
                    problems.append(f"{key}: {extra[key]}")
        if problems:
            lines.append(f"- ⚠ {label}: " + "; ".join(sorted(set(problems))[:3]))
    return ["", *lines] if lines else []


def markdown(data: dict[str, Any], charts: dict[str, str] | None) -> str:
    meta = data["meta"]
    idle = meta["idle_connections"]
    out = [
        f"Run {meta['started']} · commit {meta['commit']} · {meta['rounds']} rounds of "
        f"{meta['duration']:g} s after {meta['warmup']:g} s warm-up · took {meta.get('seconds')} s",
        "",
        f"Command: `{meta['command']}`",
        "",
    ]
    if any(SCENARIOS[s].targets for s in data["scenarios"]):
        out += ["### Targets (asgiws)", "", *targets_table(data), ""]
    for scenario_id, block in data["scenarios"].items():
        scenario = SCENARIOS[scenario_id]
        direction = "higher is better" if scenario.higher_is_better else "lower is better"
        out += [f"### {scenario.id}. {scenario.heading(idle)} ({scenario.unit}, {direction})", ""]
        if charts and scenario_id in charts:
            out += [f"![{scenario.id}]({charts[scenario_id]})", ""]
        out += scenario_table(scenario, block)
        if scenario.note:
            out += ["", scenario.note]
        out += details(scenario_id, block)
        out.append("")
    headroom = headroom_table(data)
    if len(headroom) > 2:
        out += ["### Load generator headroom", "", *headroom, ""]
    noise = noise_line(data)
    if noise:
        out += [noise, ""]
    return "\n".join(out)


def charts(data: dict[str, Any], directory: Path) -> dict[str, Path]:
    """One horizontal bar chart per scenario (median, with the rounds' min-max as whiskers)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    directory.mkdir(parents=True, exist_ok=True)
    idle = data["meta"]["idle_connections"]
    made: dict[str, Path] = {}
    for scenario_id, block in data["scenarios"].items():
        scenario = SCENARIOS[scenario_id]
        names = list(block["servers"])
        labels, values, low, high, colors = [], [], [], [], []
        for name in names:
            entry = block["servers"][name]
            value = entry.get("median")
            labels.append(SERVERS[name].label + ("" if value is not None else "  (n/a)"))
            values.append(value or 0.0)
            spread = entry.get("spread") or [value or 0.0, value or 0.0]
            low.append((value or 0.0) - spread[0])
            high.append(spread[1] - (value or 0.0))
            if name == scenario.reference:
                colors.append("#555555")
            elif SERVERS[name].is_asgiws:
                colors.append("#d62728")
            else:
                colors.append("#1f77b4")
        cpu = [block["servers"][name].get("cpu_us_per_op") or 0.0 for name in names]
        figure, (axes, cpu_axes) = plt.subplots(
            1,
            2,
            figsize=(11, 0.45 * len(names) + 1.3),
            sharey=True,
            gridspec_kw={"width_ratios": [3, 2]},
        )
        positions = list(range(len(names)))
        axes.barh(positions, values, xerr=[low, high], color=colors, capsize=3, alpha=0.9)
        axes.set_yticks(positions, labels)
        axes.invert_yaxis()
        direction = "higher is better" if scenario.higher_is_better else "lower is better"
        axes.set_title(f"{scenario.id}. {scenario.heading(idle)}", fontsize=10, loc="left")
        axes.set_xlabel(f"{scenario.unit}, {direction} (median; whiskers: min-max of rounds)")
        for position, value, top in zip(positions, values, high, strict=True):
            if value:
                axes.text(value + top, position, f"  {number(value)}", va="center", fontsize=8)
        axes.set_xlim(0, max((v + h for v, h in zip(values, high, strict=True)), default=1) * 1.2)
        cpu_axes.barh(positions, cpu, color=colors, alpha=0.6)
        cpu_axes.set_xlabel("server CPU µs per operation (lower is better)")
        for position, value in zip(positions, cpu, strict=True):
            if value:
                cpu_axes.text(value, position, f"  {number(value)}", va="center", fontsize=8)
        cpu_axes.set_xlim(0, max(cpu, default=1) * 1.25 or 1)
        figure.tight_layout()
        path = directory / f"{scenario_id}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        made[scenario_id] = path
    return made


def write_docs(data: dict[str, Any], charts_made: dict[str, Path]) -> Path:
    """Regenerate docs/benchmarks.md; its charts are copied to benchmarks/charts/."""
    DOC_CHARTS.mkdir(parents=True, exist_ok=True)
    for stale in DOC_CHARTS.glob("*.png"):
        stale.unlink()
    links: dict[str, str] = {}
    for scenario_id, path in charts_made.items():
        shutil.copyfile(path, DOC_CHARTS / path.name)
        links[scenario_id] = f"../benchmarks/charts/{path.name}"
    meta = data["meta"]
    versions = " · ".join(f"{name} {version}" for name, version in meta["versions"].items())
    machine = meta["machine"]
    commands = "\n".join(f"{name}: {command}" for name, command in meta["commands"].items())
    text = [
        "# Benchmarks",
        "",
        "asgiws against a minimal uvloop echo server (the ceiling: the least work a Python "
        "WebSocket echo can do) and its peers — websockets, uvicorn (websockets-sansio and "
        "wsproto), hypercorn, aiohttp — measured in the same run, round after round. "
        "This page is generated: `python benchmarks/run.py --write-docs` (add `--quick` for "
        "the two-minute run). See `benchmarks/README.md` for how it works.",
        "",
        "## This run",
        "",
        f"- Machine: {machine['cpu']}, {machine['cpus']} CPUs, {machine['memory']}, "
        f"Linux {machine['kernel']}; load average {machine['load_average_at_start']} at start, "
        f"{machine.get('load_average_at_end', '?')} at end",
        f"- Versions: {versions}",
        f"- Command: `{meta['command']}` (commit {meta['commit']}, {meta['started']})",
        f"- Each server in its own process pinned to CPU 0; the load generator (Python, uvloop, "
        f"raw protocol) and the runner pinned to CPU 1; HTTP load: {meta['http_loadgen']}",
        "",
        "## How to read this",
        "",
        "- Every figure is the median of the rounds; the rounds' own figures are listed, in "
        "order. A ratio is the server's median over the reference's median from the same run "
        "(the minimal server; websockets for the permessage-deflate lines i and j). For the "
        "lower-is-better figures (memory, broadcast) a ratio above 1 is worse.",
        "- *Server CPU µs/op* is the server's utime+stime over the measuring window divided by "
        "the operations in it (round trips, connections, requests, recipients). It is the "
        "figure to trust when the machine is busy: rates move with every other process that "
        "wakes up, CPU per operation much less.",
        "- *Loadgen CPU* is the load generator's (or wrk's) share of its own CPU during the "
        "window: well under 100 % means it was waiting on the server, not the other way round.",
        "- The minimal server is a ceiling only for the work it shares with the others; it "
        "validates nothing (no UTF-8 check, no limits, no extensions).",
        "- h is measured through asgiws's native `broadcast()` (the websockets 10.4 API); the "
        "ASGI face has no broadcast of its own yet.",
        "",
        "## Results",
        "",
        markdown(data, links),
        "## Server command lines",
        "",
        "```",
        commands,
        "```",
        "",
        "## permessage-deflate in detail",
        "",
        "Lines i and j above compare compressed connections with websockets in the same run. "
        "Throughput for 1 KiB JSON and 1 MiB messages, and memory per idle connection with "
        "compression on and off (10,000 connections, `benchmarks/deflate_memory.py` and "
        "`benchmarks/deflate_throughput.py`), are in [compression.md](compression.md#figures).",
        "",
    ]
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text("\n".join(text))
    return DOCS
