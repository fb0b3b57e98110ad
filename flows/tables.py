"""The comparison report as a markdown document (`python -m flows.compare`)."""


def resources_cells(res: dict) -> tuple[str, str, str, str, str]:
    """(LUT or LC, FF, BRAM, DSP, Fmax) as table cells."""
    fmax = res.get("fmax_mhz")
    if "LUT" in res:                       # Arty: Yosys synth_xilinx, Fmax from its ECP5 proxy
        bram = res["BRAM36"] + res["BRAM18"] / 2
        return (str(res["LUT"]), str(res["FF"]), f"{bram:g} (36 Kb)", str(res["DSP"]),
                f"{fmax:.1f} MHz (ECP5 proxy)" if fmax else "–")
    if "utilisation" in res:
        use = res["utilisation"]
        if "TRELLIS_COMB" in use:          # ECP5 (ULX3S)
            return (f"{use['TRELLIS_COMB']['used']} LUT4",
                    str(use.get("TRELLIS_FF", {}).get("used", 0)),
                    f"{use.get('DP16KD', {}).get('used', 0)} EBR",
                    str(use.get("MULT18X18D", {}).get("used", 0)),
                    f"{fmax:.1f} MHz" if fmax else "–")
        return (f"{use.get('ICESTORM_LC', {}).get('used', 0)} LC", "–",
                f"{use.get('ICESTORM_RAM', {}).get('used', 0)} EBR",
                str(use.get("ICESTORM_DSP", {}).get("used", 0)),
                f"{fmax:.1f} MHz" if fmax else "–")
    return "–", "–", "–", "–", "–"


def _params(params: dict) -> str:
    shown = {k: v for k, v in params.items()
             if k in ("T", "Q", "wait", "norm", "alpha", "runs")}
    return ", ".join(f"{k}={v}" for k, v in shown.items())


def markdown_table(comparison: dict) -> str:
    gen = comparison["generated"]
    lines = [
        f"# Coding comparison: {comparison['network']}, board {comparison['board']}, "
        f"{comparison['lanes']} lanes",
        "",
        f"Generated {gen['date']} on {gen['host']} ({gen['machine']}) by "
        f"`{' '.join(gen['command']) or 'flows.compare'}`.",
        "",
        "| coding | parameters | ANN % | SNN % | spikes / neuron | synaptic adds | "
        "other ops | cycles | LUT | FF | BRAM | DSP | Fmax | SNN int8 compute nJ | "
        "SNN SRAM nJ | ANN int8 nJ | Eq. 6 efficiency |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in comparison["rows"]:
        e = row["energy"]
        lut, ff, bram, dsp, fmax = resources_cells(row["resources"])
        other = sum(row["other_operations"].values())
        eq6 = f"{e['fp32_efficiency_eq6']:.1f}×" if e["fp32_efficiency_eq6"] else "–"
        lines.append(
            f"| {row['coding']} | {_params(row['params'])} | {row['ann_float_percent']:.2f} | "
            f"{row['snn_golden_percent']:.2f} | {row['spikes_per_neuron']:.2f} | "
            f"{row['synaptic_adds']:.0f} | {other:.0f} | {row['cycles_per_inference']:.0f} | "
            f"{lut} | {ff} | {bram} | {dsp} | {fmax} | {e['int8_snn_compute_nJ']:.3f} | "
            f"{e['snn_sram_nJ']:.1f} | {e['int8_ann_nJ']:.3f} | {eq6} |")
    lines += ["", "## Sweeps (golden model, test split)", "",
              "| coding | varied | SNN % | spikes / neuron | synaptic adds | cycles |",
              "|---|---|---|---|---|---|"]
    for coding, points in comparison["sweeps"].items():
        for point in points:
            varied = ", ".join(f"{k}={v}" for k, v in point["varied"].items())
            if "skipped" in point:
                lines.append(f"| {coding} | {varied} | skipped: {point['skipped']} | | | |")
                continue
            lines.append(f"| {coding} | {varied} | {point['snn_golden_percent']:.2f} | "
                         f"{point['spikes_per_neuron']:.2f} | {point['synaptic_adds']:.0f} | "
                         f"{point['cycles_mean']:.0f} |")
    c = comparison["energy_constants"]
    lines += ["", "## Definitions", "",
              "- SNN % and cycles: golden model on the test split; cycles from the last pixel "
              "to `result__valid`, equal to the RTL's (checked by the Verilator regression).",
              "- spikes / neuron: spikes of the hidden layers per inference over their neurons.",
              "- other ops: bias, potential, current additions, comparisons, Q-multiplies, "
              "shifts per inference (`fixed_ops` of each layer; per kind in comparison.json).",
              f"- Energy ({c['source']}): int8 add {c['int8_add_pJ']} pJ, int8 multiply "
              f"{c['int8_mult_pJ']} pJ; fp32 add {c['fp32_add_pJ']} pJ, fp32 MAC "
              f"{c['fp32_mac_pJ']} pJ; SRAM {c['sram_access_pJ']} pJ per access "
              f"({c['sram_assumption']}). Eq. 6 efficiency = ANN MACs · E_MAC / "
              "(SNN synaptic additions · E_add), fp32. ANN int8 = MACs · (multiply + add).",
              ""]
    return "\n".join(lines)
