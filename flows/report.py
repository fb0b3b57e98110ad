"""The build report: golden figures (accuracy, spikes, operations, cycles, coding extras),
memory bits, and the summary a person reads at the end of a build."""
from pathlib import Path

import numpy as np

from golden.codings import get_coding
from golden.cycles import inference_cycles


def rom_report(top) -> dict:
    """Memory bits of the design: constant ROMs and the per-layer state RAMs."""
    rom_bits = sum(rom.width * len(rom.words) for rom in top.roms())
    state_bits = sum(engine.groups * engine.lanes
                     * engine.core_module.state_layout(engine.layer.neuron_params).size
                     for engine in top.engines)
    return {"rom_bits": rom_bits, "state_ram_bits": state_bits}


def percent(classes, labels) -> float:
    return round(100 * float((classes == labels).mean()), 3)


def quantised_ann_check(network, result, split) -> dict:
    """For codings with an exact ANN counterpart: its accuracy and the SNN/ANN mismatches."""
    golden = get_coding(network.coding).golden
    if not hasattr(golden, "quantised_ann"):
        return {}
    codes, classes = golden.quantised_ann(network, split.test_pixels)
    mismatched_bits = 0
    for layer, code, counts in zip(network.layers, codes, result.layers):
        bits = np.stack([(code >> (layer.T - t)) & 1 for t in range(1, layer.T + 1)], 1)
        mismatched_bits += int((bits != counts.spike_train).sum())
    return {"ann_quantised_percent": percent(classes, split.test_labels),
            "snn_vs_quantised_ann_class_mismatches": int((classes != result.classes).sum()),
            "snn_vs_quantised_ann_spike_mismatches": mismatched_bits}


def coding_extras(network, layers, result, split) -> dict:
    """Optional figures a coding offers: accuracy against T, its K curve (rate, Eq. 7),
    its spike rate R (tsc, Eq. 8)."""
    golden, extras = get_coding(network.coding).golden, {}
    if hasattr(golden, "T_SWEEP") and hasattr(network, "with_steps"):
        extras["accuracy_against_T"] = {
            int(T): percent(network.with_steps(T).simulate(split.test_pixels).classes,
                            split.test_labels) for T in golden.T_SWEEP}
    if hasattr(golden, "k_curve"):
        T = network.params.T
        steps = sorted({1 << i for i in range(T.bit_length()) if 1 << i <= T} | {T})
        extras["k_curve"] = golden.k_curve(network, layers, result, split.test_pixels, steps)
    if hasattr(golden, "spike_rate"):
        extras["spike_rate_percent"] = round(golden.spike_rate(result, network.params.T), 3)
    if hasattr(golden, "report_extras"):
        extras.update(golden.report_extras(network, result, split.test_pixels, split.test_labels))
    if any(layer.input_pool is not None for layer in network.layers):
        extras["max_pooling_rule"] = golden.MAX_POOL_NOTE
    return extras


def cycle_report(network, result, lanes: int, input_banks: int = 2) -> dict:
    cycles = inference_cycles(network, result, lanes, input_banks)
    return {
        "definition": "latency: from the cycle after the last pixel is accepted to "
                      "result__valid, nothing else running; period: cycles per image when "
                      "images stream back to back",
        "mean": float(cycles["latency"].mean()), "min": int(cycles["latency"].min()),
        "max": int(cycles["latency"].max()),
        "per_layer_mean": [float(c.mean()) for c in cycles["per_layer"]],
        "pixel_load_cycles": cycles["load"],
        "loading_overlapped": input_banks == 2,
        "back_to_back_period_mean": float(cycles["period"].mean()),
    }


def accuracy_bound(coding: str, ann: float, snn: float, network=None) -> dict:
    """The points the coding may lose against the float ANN (`ACCURACY_BOUND` of its golden
    module: what the bundled networks meet) and, when this network loses more, what
    usually wins them back: the coding's `ACCURACY_HINT` and, given the `network`, its
    candidate settings from the ones in use on, untried (`flows.advice.accuracy_trials`,
    which a build runs, measures them)."""
    from .advice import untried_hint
    golden = get_coding(coding).golden
    bound = {"bound_points": golden.ACCURACY_BOUND}
    lost = round(ann - snn, 3)        # at the percentages' own precision, no float residue
    if lost > golden.ACCURACY_BOUND:
        bound["outside_bound"] = untried_hint(
            coding, lost, None if network is None else network.params, network)
    return bound


def fine_tuning_check(network, layers, split, ann: float) -> dict:
    """For a coding that fine-tunes with these parameters (its `fine_tuning`): that the
    hardware computes the fine-tuned network, why, and both accuracies, the float ANN's
    (the user's network) and the fine-tuned ANN's (its `fine_tuned_ann`; without one, the
    fine-tuned network is the SNN itself)."""
    golden = get_coding(network.coding).golden
    why = golden.fine_tuning(network.params) if hasattr(golden, "fine_tuning") else None
    if why is None:
        return {}
    tuned = None
    if hasattr(golden, "fine_tuned_ann"):
        tuned = percent(golden.fine_tuned_ann(network, layers, split.test_pixels),
                        split.test_labels)
    return {"fine_tuned": {
        "note": "the hardware computes the fine-tuned network, not the float ANN given",
        "why": why, "ann_float_percent": ann, "ann_fine_tuned_percent": tuned,
        "fine_tuned_ann": "its ANN as trained" if tuned is not None else
                          "none apart from the SNN: the SNN is what was trained"}}


def evaluate(network, ann_classes, split, lanes: int, layers=None,
             hardware: bool = True, input_banks: int = 2) -> dict:
    """Golden figures of the network; cycles only for a network the RTL runs (`hardware`).
    `ann_classes(pixels)` is the float model's classification, under its input contract."""
    result = network.simulate(split.test_pixels)
    summary = result.summary()
    ann = percent(ann_classes(split.test_pixels), split.test_labels)
    snn = percent(result.classes, split.test_labels)
    return {
        "accuracy": {
            "test_images": int(len(split.test_labels)),
            "ann_float_percent": ann, "snn_golden_percent": snn,
            **accuracy_bound(network.coding, ann, snn, network),
            **quantised_ann_check(network, result, split),
            **(fine_tuning_check(network, layers, split, ann) if layers is not None else {}),
        },
        "spikes_per_inference": {
            "input": summary["input_spikes"],
            "per_layer": [{k: l[k] for k in ("layer", "neurons", "spikes", "spikes_per_neuron")}
                          for l in summary["layers"]],
            "total_excluding_input": summary["total_spikes"],
        },
        "operations_per_inference": {
            "per_layer": [{k: v for k, v in l.items() if k not in ("spikes", "spikes_per_neuron")}
                          for l in summary["layers"]],
            "total_synaptic_adds": summary["total_synaptic_adds"],
        },
        "cycles_per_inference": cycle_report(network, result, lanes, input_banks) if hardware
        else None,
        **coding_extras(network, layers, result, split),
    }


def print_summary(report: dict, out: Path) -> None:
    acc, cyc = report["accuracy"], report["cycles_per_inference"]
    spikes = report["spikes_per_inference"]
    lanes, used = report["lanes"], report["lanes_per_layer"]
    requested = lanes if isinstance(lanes, list) else [lanes] * len(used or [])
    if used and used != requested:
        lanes = f"{lanes} requested, per layer {used}"
    print(f"\n{report['network_name']}, {report['coding']} coding, {report['params']}, "
          f"lanes={lanes}, "
          f"board={report['board']}")
    print(f"  accuracy   ANN {acc['ann_float_percent']:.2f} %   "
          f"SNN (golden) {acc['snn_golden_percent']:.2f} %   on {acc['test_images']} test images")
    if "outside_bound" in acc:
        print(f"  note       {acc['outside_bound']}")
    if "fine_tuned" in acc:
        tuned = acc["fine_tuned"]
        figure = (f"the fine-tuned ANN {tuned['ann_fine_tuned_percent']:.2f} %"
                  if tuned["ann_fine_tuned_percent"] is not None else
                  f"the fine-tuned network (the SNN) {acc['snn_golden_percent']:.2f} %")
        print(f"  fine-tuned the hardware computes the fine-tuned network, not the float ANN "
              f"given: float ANN {tuned['ann_float_percent']:.2f} %, {figure}")
        print(f"             ({tuned['why']})")
    if "ann_quantised_percent" in acc:
        print(f"             quantised ANN {acc['ann_quantised_percent']:.2f} %, SNN differs from "
              f"it in {acc['snn_vs_quantised_ann_class_mismatches']} classes and "
              f"{acc['snn_vs_quantised_ann_spike_mismatches']} spikes")
    contract = report.get("input_contract")
    if contract:
        print(f"  input      {contract['model_input']} ({contract['given_by']})")
        if (contract.get("check") or {}).get("warning"):
            print(f"  warning    {contract['check']['warning']}")
    layers = "  ".join(f"{l['layer'].split(' (')[0]}: {l['spikes']:.1f}" for l in spikes["per_layer"])
    print(f"  spikes     input {spikes['input']:.1f}   {layers}")
    print(f"  synaptic   {report['operations_per_inference']['total_synaptic_adds']:.0f} "
          f"additions per inference")
    if cyc is not None:
        print(f"  cycles     {cyc['mean']:.0f} per inference from the last pixel (min "
              f"{cyc['min']}, max {cyc['max']}); per layer "
              + " / ".join(f"{c:.0f}" for c in cyc["per_layer_mean"]))
        overlap = ("overlapped with the image before (two input banks)"
                   if cyc.get("loading_overlapped") else "between images (one input bank)")
        print(f"             {cyc['pixel_load_cycles']} to load an image, {overlap}; back to "
              f"back {cyc['back_to_back_period_mean']:.0f} per image")
    if "accuracy_against_T" in report:
        sweep = "  ".join(f"T={T}: {a:.2f} %" for T, a in report["accuracy_against_T"].items())
        print(f"  against T  {sweep}")
    if report["network"].get("alpha") is not None:
        print(f"  alpha      {report['network']['alpha']} (θ = α·V_in^max)")
    if "spike_rate_percent" in report:
        print(f"  spike rate {report['spike_rate_percent']:.2f} % of neurons per step (Eq. 8)")
    if "runs" in report:
        runs = report["runs"]
        print(f"  runs       cap {runs['cap']} ({runs['meaning']}): at most "
              f"{runs['max_spikes_per_neuron_allowed']} spikes per neuron, "
              f"{runs['max_spikes_per_neuron_measured']} measured")
        trade = "  ".join(f"runs={cap}: {p['accuracy_percent']:.2f} % {p['spikes_per_neuron']:.2f}"
                          for cap, p in runs["against_runs_same_thresholds"].items())
        print(f"  vs runs    {trade} (accuracy, spikes per neuron; same thresholds)")
    if "max_pooling_rule" in report:
        print(f"  max pool   {report['max_pooling_rule']}")
    res = report["resources"]
    if "LUT" in res:
        print(f"  resources  LUT {res['LUT']}  FF {res['FF']}  BRAM36 {res['BRAM36']}  "
              f"BRAM18 {res['BRAM18']}  DSP {res['DSP']}  ({res['tool']})")
        proxy = res.get("timing_proxy")
        print(f"  clock      {res['clock_mhz']} MHz ({res['clock_source']})")
        if proxy:
            print(f"  fmax       {proxy['fmax_mhz']} MHz on the timing proxy, "
                  f"{proxy['device']} ({proxy['tool']}; Vivado is not available here)")
    if "utilisation" in res:
        use = "  ".join(f"{k} {v['used']}/{v['available']}" for k, v in res["utilisation"].items())
        print(f"  resources  {use}")
        print(f"  fmax       {res['fmax_mhz']} MHz (board clock {res['clock_mhz']} MHz)")
        period = cyc["back_to_back_period_mean"]
        print(f"  throughput {res['clock_mhz'] * 1e6 / period:,.0f} images/s back to back at "
              f"the board clock, {res['fmax_mhz'] * 1e6 / period:,.0f} at Fmax")
    if "asic" in res:
        asic = res["asic"]
        print(f"  asic       {asic['logic_cells']} generic cells ({asic['flip_flops']} flip-flops), "
              f"~{asic['estimated_transistors']:,} transistors of logic; {asic['memories']} "
              f"memories, {asic['memory_bits']} bits (memories.json); {asic['clock_mhz']:g} MHz")
    estimate = res.get("block_ram_estimate")
    if estimate and estimate.get("packing_efficiency_percent") is not None:
        print(f"  block RAM  {estimate['needed']} of {estimate['available']} {estimate['unit']}, "
              f"{estimate['memory_bits_in_block_ram']} memory bits in "
              f"{estimate['block_ram_bits_taken']} block-RAM bits "
              f"({estimate['packing_efficiency_percent']:g} % packing)")
    weights = res.get("run_time_weights")
    if weights:
        print(f"  SPRAM      weights of {', '.join(report['spram_layers'])} in {weights['sprams']} "
              f"SPRAMs, loaded at run time: python -m flows.board sends {weights['file']} "
              f"({weights['image_bytes']} bytes) before the images")
    if "rom_bits" in res:
        from boards.fit import plan_words
        plan = report.get("memory_plan")
        layout = "" if not plan else "; " + ", ".join(
            plan_words(plan["input_banks"], plan["shared_state_ram"]))
        print(f"  memories   {res['rom_bits']} ROM bits, {res['state_ram_bits']} state RAM bits"
              + layout)
    else:
        print("  hardware   none generated (--golden-only)")
    print(f"  written    {out}")
