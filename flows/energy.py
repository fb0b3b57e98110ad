"""Energy estimates from the golden model's operation counts, with the papers' constants.

Constants: 45 nm CMOS, M. Horowitz, "Computing's energy problem (and what we can do about
it)", ISSCC 2014, as used by the papers:
- 32-bit floating point: addition 0.9 pJ, multiply-accumulate 4.6 pJ. One-Spike Eq. (6)
  compares an ANN's MACs (E_MAC) with an SNN's synaptic additions (E_addition) this way.
- 8-bit integer: addition 0.03 pJ, multiplication 0.2 pJ (the integer datapath the RTL
  actually builds; an ANN at int8 costs one multiplication and one addition per MAC).
- SRAM: 10 pJ per access of a 64-bit word in an 8 kB SRAM; charged here, as an explicit
  assumption, once per potential read and once per potential write (each neuron update
  reads and writes its state word).

The SNN counts come from `SimResult.summary()`: synaptic additions, and the per-layer
fixed operations (`fixed_ops`): names with "multipl" count as multiplications, "shift"s
as free (constant shifts are wiring), everything else (bias, potential and current
additions, comparisons) as additions.
"""
E_FP32_ADD_PJ = 0.9
E_FP32_MAC_PJ = 4.6
E_INT8_ADD_PJ = 0.03
E_INT8_MULT_PJ = 0.2
E_SRAM_ACCESS_PJ = 10.0

CONSTANTS = {
    "source": "M. Horowitz, ISSCC 2014, 45 nm; One-Spike Eq. (6) for the fp32 comparison",
    "fp32_add_pJ": E_FP32_ADD_PJ, "fp32_mac_pJ": E_FP32_MAC_PJ,
    "int8_add_pJ": E_INT8_ADD_PJ, "int8_mult_pJ": E_INT8_MULT_PJ,
    "sram_access_pJ": E_SRAM_ACCESS_PJ,
    "sram_assumption": "one access per potential read and one per potential write; "
                       "every synaptic addition and every per-step neuron update is one "
                       "read and one write",
}


def operation_classes(layer_summary: dict) -> tuple[float, float]:
    """(additions, multiplications) of one layer per inference, synaptic ones included."""
    additions, multiplications = layer_summary["synaptic_adds"], 0.0
    for name, count in layer_summary.items():
        if name in ("layer", "neurons", "spikes", "spikes_per_neuron", "synaptic_adds"):
            continue
        if "multipl" in name:
            multiplications += count
        elif "shift" not in name:
            additions += count
    return additions, multiplications


def estimate(network, summary: dict) -> dict:
    """Per-inference energy of the SNN (from golden counts) and of the ANN it came from."""
    macs = sum(layer.connections if layer.ann_macs is None else layer.ann_macs
               for layer in network.layers)
    synaptic = summary["total_synaptic_adds"]
    additions = multiplications = sram = 0.0
    for layer, counts in zip(network.layers, summary["layers"]):
        add, mult = operation_classes(counts)
        additions, multiplications = additions + add, multiplications + mult
        updates = counts["synaptic_adds"] + layer.n_out * layer.schedule.step_passes
        sram += 2 * updates
    snn_int8 = additions * E_INT8_ADD_PJ + multiplications * E_INT8_MULT_PJ
    return {
        "ann_macs": macs,
        "snn_additions": additions, "snn_multiplications": multiplications,
        "snn_potential_accesses": sram,
        "fp32_ann_nJ": macs * E_FP32_MAC_PJ / 1000,
        "fp32_snn_synaptic_nJ": synaptic * E_FP32_ADD_PJ / 1000,
        "fp32_efficiency_eq6": (macs * E_FP32_MAC_PJ) / (synaptic * E_FP32_ADD_PJ)
                               if synaptic else None,
        "int8_ann_nJ": macs * (E_INT8_MULT_PJ + E_INT8_ADD_PJ) / 1000,
        "int8_snn_compute_nJ": snn_int8 / 1000,
        "snn_sram_nJ": sram * E_SRAM_ACCESS_PJ / 1000,
        "int8_snn_total_nJ": (snn_int8 + sram * E_SRAM_ACCESS_PJ) / 1000,
    }
