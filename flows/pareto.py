"""Sweep results: the table (CSV, JSON) and the Pareto fronts as plots (flows.sweep)."""
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from .outputs import staged_directory  # noqa: E402
from .sweep_point import flat_row  # noqa: E402


def pareto_front(rows: list[dict], cost: str, value: str = "snn_golden_percent") -> list[dict]:
    """The rows no other row beats: lower or equal `cost` with higher or equal `value`, one
    of them strictly. Sorted by cost."""
    candidates = [r for r in rows if r.get(cost) is not None and r.get(value) is not None]
    front = [r for r in candidates
             if not any(o[cost] <= r[cost] and o[value] >= r[value]
                        and (o[cost] < r[cost] or o[value] > r[value]) for o in candidates)]
    return sorted(front, key=lambda r: (r[cost], -r[value]))


def table_rows(outcomes: list[dict]) -> list[dict]:
    """One flat row per point; a failed point keeps its parameters and its error."""
    rows = []
    for outcome in outcomes:
        point = outcome["point"]
        if "row" in outcome:
            row = flat_row(outcome["row"])
        else:
            row = {k: point[k] for k in ("network", "coding", "run", "board", "lanes")}
            row.update(point["params"])
            row["error"] = outcome["error"]
        row["status"] = outcome["status"]
        rows.append(row)
    return rows


def write_results(outcomes: list[dict], out: Path) -> list[Path]:
    rows = table_rows(outcomes)
    with staged_directory(out) as staging:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        with open(staging / "sweep.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        (staging / "sweep.json").write_text(json.dumps(
            {"rows": rows, "points": [o["point"] for o in outcomes],
             "pareto_accuracy_vs_cycles": pareto_front(rows, "cycles_mean")}, indent=2))
        plots = [plot_front(rows, "cycles_mean", "cycles per inference (mean)",
                            staging / "pareto_accuracy_vs_cycles.png")]
        for board in sorted({r["board"] for r in rows if r.get("LUT") is not None}):
            board_rows = [r for r in rows if r["board"] == board]
            plots.append(plot_front(board_rows, "LUT", f"LUTs ({board})",
                                    staging / f"pareto_accuracy_vs_luts_{board}.png"))
    return [out / "sweep.csv", out / "sweep.json", *(out / p.name for p in plots)]


def plot_front(rows: list[dict], cost: str, label: str, path: Path) -> Path:
    """Every point by coding, and the Pareto front of accuracy against `cost`."""
    figure, axes = plt.subplots(figsize=(7, 4.5))
    usable = [r for r in rows if r.get(cost) is not None and "error" not in r]
    for coding in dict.fromkeys(r["coding"] for r in usable):
        mine = [r for r in usable if r["coding"] == coding]
        axes.scatter([r[cost] for r in mine], [r["snn_golden_percent"] for r in mine],
                     label=coding, s=18)
    front = pareto_front(usable, cost)
    if front:
        axes.step([r[cost] for r in front], [r["snn_golden_percent"] for r in front],
                  where="post", color="black", linewidth=1, label="Pareto front")
    networks = ", ".join(dict.fromkeys(r["network"] for r in usable))
    axes.set(xscale="log", xlabel=label, ylabel="golden SNN test accuracy %",
             title=f"Accuracy against {label}: {networks}")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
