"""What every coding's golden simulation returns: classes, spikes and operation counts."""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Schedule:
    """How the layer engine (hdl/layer.py) runs one layer; golden/cycles.py reads it too.

    STEP passes run for k = 1 .. step_passes; an ADD pass over the input events of phase k
    follows STEP k when k <= input_phases. STEP passes k > emit_offset make the fire
    decision for output phase k - emit_offset (threshold_table[k - emit_offset - 1]).
    The output layer ends with a READ pass instead of emitting spikes.
    """
    step_passes: int
    input_phases: int
    emit_offset: int
    output_phases: int            # phases of the emitted spikes (0 for the output layer)
    max_spikes_per_neuron: int
    is_output: bool


@dataclass
class LayerCounts:
    name: str
    neurons: int
    output_spikes: np.ndarray             # (n_images,) spikes this layer emitted
    synaptic_adds: np.ndarray             # (n_images,) weight additions
    other_ops: dict[str, np.ndarray]      # name → (n_images,) counts
    input_events_per_phase: np.ndarray    # (n_images, phases) input spikes seen per phase
    spike_train: np.ndarray | None        # (n_images, phases, neurons) 0/1 (hidden layers)


@dataclass
class SimResult:
    classes: np.ndarray                   # (n_images,) argmax of the output layer
    input_spikes: np.ndarray              # (n_images,) spikes the pixels were coded into
    layers: list[LayerCounts]
    final_potential: np.ndarray           # (n_images, n_classes) output layer potentials

    def summary(self) -> dict:
        """Per-inference means, per layer and in total."""
        per_layer = [{"layer": c.name, "neurons": c.neurons,
                      "spikes": float(c.output_spikes.mean()),
                      "spikes_per_neuron": float(c.output_spikes.mean() / c.neurons),
                      "synaptic_adds": float(c.synaptic_adds.mean()),
                      **{k: float(v.mean()) for k, v in c.other_ops.items()}}
                     for c in self.layers]
        return {"input_spikes": float(self.input_spikes.mean()),
                "layers": per_layer,
                "total_spikes": float(sum(l["spikes"] for l in per_layer)),
                "total_synaptic_adds": float(sum(l["synaptic_adds"] for l in per_layer))}
