"""What every coding's golden simulation returns: classes, spikes and operation counts."""
from dataclasses import dataclass

import numpy as np


@dataclass
class LayerCounts:
    name: str
    neurons: int
    output_spikes: np.ndarray             # (n_images,) spikes this layer emitted
    synaptic_adds: np.ndarray             # (n_images,) weight additions
    other_ops: dict[str, np.ndarray]      # name → (n_images,) counts
    input_events_per_phase: np.ndarray    # (n_images, phases) input spikes seen per phase
    fire_phase: np.ndarray | None         # (n_images, neurons) 0 = silent (hidden layers)


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
