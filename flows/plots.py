"""PNG plots of the comparison report (matplotlib, no display needed)."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)


def _t_points(points):
    return sorted((p["varied"]["T"], p) for p in points if "T" in p["varied"] and "skipped" not in p)


def write_plots(comparison: dict, out: Path) -> list[Path]:
    rows, sweeps = comparison["rows"], comparison["sweeps"]
    title = f"{comparison['network']}, {comparison['lanes']} lanes"
    written = []

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for coding, points in sweeps.items():
        data = _t_points(points)
        if data:
            axes.plot([T for T, _ in data], [p["snn_golden_percent"] for _, p in data],
                      marker="o", label=coding)
    ann = {row["ann_float_percent"] for row in rows if row["coding"] not in ("radix", "deferred")}
    for value in ann:
        axes.axhline(value, color="grey", linestyle="--", linewidth=1, label="float ANN")
    axes.set(xscale="log", xlabel="T (steps / phases / bits)", ylabel="golden SNN test accuracy %",
             title=f"Accuracy against T ({title})")
    axes.set_xticks(sorted({T for points in sweeps.values() for T, _ in _t_points(points)}))
    axes.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axes.legend()
    axes.grid(True, alpha=0.3)
    written.append(_save(figure, out / "accuracy_vs_T.png"))

    figure, (spikes_axes, adds_axes) = plt.subplots(1, 2, figsize=(11, 4.5))
    width = 0.8 / max(len(rows), 1)
    for index, row in enumerate(rows):
        layers = range(len(row["spikes_per_layer"]))
        offsets = [l + index * width for l in layers]
        spikes_axes.bar(offsets, row["spikes_per_layer"], width, label=row["coding"])
        adds_axes.bar(offsets, row["synaptic_adds_per_layer"], width, label=row["coding"])
    for axes, label in ((spikes_axes, "spikes emitted per inference"),
                        (adds_axes, "synaptic additions per inference")):
        axes.set(xlabel="layer", ylabel=label)
        axes.set_xticks([l + 0.4 - width / 2 for l in layers], [str(l + 1) for l in layers])
        axes.legend()
    figure.suptitle(f"Spikes and operations per layer at the defaults ({title})")
    written.append(_save(figure, out / "spikes_ops_per_layer.png"))

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for coding, points in sweeps.items():
        data = _t_points(points)
        if not data:
            continue
        axes.plot([p["cycles_mean"] for _, p in data], [p["snn_golden_percent"] for _, p in data],
                  marker="o", label=coding)
        for T, p in data:
            axes.annotate(f"T={T}", (p["cycles_mean"], p["snn_golden_percent"]), fontsize=7,
                          textcoords="offset points", xytext=(3, 3))
    axes.set(xscale="log", xlabel="cycles per inference", ylabel="golden SNN test accuracy %",
             title=f"Cycles against accuracy ({title})")
    axes.legend()
    axes.grid(True, alpha=0.3)
    written.append(_save(figure, out / "cycles_vs_accuracy.png"))
    return written


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
