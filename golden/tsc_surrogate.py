"""tsc for deep networks: the float layers trained through the N steps (surrogate gradients).

A TSC neuron's current changes over its N steps (its inputs' runs all start at t = 1 and
end at different steps), so its time on is not the ReLU of its summed input: a neuron that
gains early and loses late fires for the peak of its running sum. Threshold balancing
(the TSC paper's §4.1) cannot fix that, and the error grows layer by layer (docs/codings.md §7: 95.0 % on
the five hidden layers of digits-resnet against the float 98.61 %). With
`finetune_epochs`, the converter (`golden.codings.tsc.convert`) converts as always, then
runs the network as a float TSC network at that conversion's normalisation and thresholds
(held fixed) and trains its weights by backpropagation through the N steps, toward the
float ANN's outputs on the training images (the calibration set, all of it); the firing's
step function of (V - θ)/θ passes the surrogate derivative 1/(1 + (k·(V - θ)/θ)²). The trained layers are quantised at the same
normalisation and thresholds: the integer network and its RTL are exact as ever, only the
weights differ, and the float ANN the SNN is held against stays the user's.

The float model is the golden one (Eq. 5-6 on the on-step trains, the bias on for steps
1..N-1, no run starting at the last step; `tests/test_tsc_surrogate.py`) but for two
things it leaves out: the cap on runs, and max pooling, which it takes as the maximum of
the on-steps at each step. Deterministic: seeded, CPU, one thread, full order fixed.
"""
import numpy as np
import torch

from .convert import FloatLayer, pooled_scale
from .graph import gather
from .torch_threads import single_thread
from .trainable import TrainableLayer

SEED = 0
LEARNING_RATE = 2e-3       # at the start of the cosine schedule (docs/codings.md §7)
SURROGATE_SHARPNESS = 4.0  # k above
BATCH = 64


class _Fire(torch.autograd.Function):
    """The step function of (V - θ)/θ ≥ 0, with the surrogate gradient on the way back."""

    @staticmethod
    def forward(ctx, over):
        ctx.save_for_backward(over)
        return (over >= 0).to(over.dtype)

    @staticmethod
    def backward(ctx, grad):
        over, = ctx.saved_tensors
        return grad / (1 + (SURROGATE_SHARPNESS * over) ** 2)


def on_steps(switch_steps: np.ndarray, N: int) -> torch.Tensor:
    """The input's trains as on-steps (N, batch, n_in): a pixel is on at steps 1..p*-1."""
    steps = np.arange(1, N + 1)[:, None, None]
    return torch.from_numpy((steps < switch_steps[None]).astype(np.float64))


class FloatTsc(torch.nn.Module):
    """The network as float TSC layers: `normalisation[l]` = (the activation one on-step of
    each input stands for, λ_l, θ_l in normalised units), as a conversion set them."""

    def __init__(self, layers: list[FloatLayer], normalisation: list[tuple]):
        super().__init__()
        self.trainable = torch.nn.ModuleList(TrainableLayer(layer) for layer in layers)
        self.normalisation = [(torch.from_numpy(np.asarray(unit, dtype=np.float64)), lam, theta)
                              for unit, lam, theta in normalisation]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Output potentials after step N (batch, classes) for on-step trains (N, batch, n):
        with integer weights, λ = 1 and no cap on runs, golden's `final_potential` exactly."""
        N, batch = inputs.shape[:2]
        trains = []
        for index, (layer, (unit, lam, theta)) in enumerate(zip(self.trainable,
                                                                self.normalisation)):
            x = gather(layer.layer, index, trains, inputs) * unit
            current = layer(x.reshape(N * batch, -1)).reshape(N, batch, -1)
            # the always-on input's -1 at step N takes the bias off for the last step
            current = torch.cat([current[:-1], current[-1:] - layer.bias()]) / lam
            if index == len(self.trainable) - 1:
                return current.sum(0)
            potential, train = torch.zeros_like(current[0]), []
            for t in range(N - 1):           # a run starting at step N emits nothing
                potential = potential + current[t]
                fired = _Fire.apply((potential - theta) / theta)
                potential = potential - theta * fired
                train.append(fired)
            trains.append(torch.stack(train + [torch.zeros_like(potential)]))
        raise AssertionError("a network has an output layer")


def normalisation_of(layers: list[FloatLayer], network) -> list[tuple]:
    """Per layer of a converted `network`: (the activation one on-step of each input
    stands for, λ, θ in normalised units = threshold/σ), what `FloatTsc` takes."""
    from .codings.tsc import input_units
    scales, units, out = [], [], []
    for index, (layer, converted) in enumerate(zip(layers, network.layers)):
        lam = 1.0 if converted.is_output else converted.info["lambda"]
        theta = converted.threshold / converted.info["weight_scale_sigma"]
        out.append((input_units(layer, index, scales, units, layers[0].n_in), lam, theta))
        scales.append(np.full(layer.n_out, lam))
        units.append(None if converted.is_output else
                     np.full(layer.n_out, converted.info["activation_per_step"]))
    return out


def retrained(layers: list[FloatLayer], first, pixels: np.ndarray, ann_outputs: np.ndarray,
              params):
    """`first` (the conversion of `layers` at its α) made again from layers trained through
    the N steps at its normalisation and thresholds, toward the float ANN's outputs on the
    calibration images (`pixels`, `ann_outputs`: every training image), and quantised at
    those thresholds. Its α and α-search figures stay `first`'s: they chose the thresholds."""
    from .codings.base import copy_structure
    from .codings.tsc import TscLayer, TscNetwork, quantised_weights, switch_step
    normalisation = normalisation_of(layers, first)
    trained = train_through_steps(layers, normalisation, switch_step(pixels, params.T),
                                  ann_outputs, params.T, params.finetune_epochs)
    out = []
    for layer, converted, (unit, lam, theta) in zip(trained, first.layers, normalisation):
        weight, bias, sigma = quantised_weights(layer, pooled_scale(layer, unit), lam,
                                                params.weight_bits)
        info = {"weight_scale_sigma": sigma, "lambda": lam}
        if "activation_per_step" in converted.info:
            info["activation_per_step"] = converted.info["activation_per_step"]
        threshold = 0 if converted.is_output else max(1, int(round(theta * sigma)))
        tsc_layer = TscLayer(layer.name, weight, bias, threshold, params.T,
                             converted.is_output, params.runs, info=info)
        copy_structure(tsc_layer, layer)
        tsc_layer.derive_widths()
        out.append(tsc_layer)
    return TscNetwork(params, out, alpha=first.alpha, alpha_search=first.alpha_search,
                      alpha_fidelity=first.alpha_fidelity)


def train_through_steps(layers: list[FloatLayer], normalisation: list[tuple],
                        switch_steps: np.ndarray, ann_outputs: np.ndarray, N: int,
                        epochs: int) -> list[FloatLayer]:
    """`epochs` passes over the calibration images (`switch_steps`: their pixels' p*), the
    loss the cross-entropy of the output potentials against the float ANN's softmax
    (`ann_outputs`): the SNN learns to follow the ANN it is held against, not the labels.
    The learning rate falls from LEARNING_RATE to 0 on a cosine over the run."""
    with single_thread():
        torch.manual_seed(SEED)
        model = FloatTsc(layers, normalisation)
        optimiser = torch.optim.Adam([p for layer in model.trainable
                                      for p in (layer.weight_param, layer.bias_param)],
                                     lr=LEARNING_RATE)
        targets = torch.softmax(torch.from_numpy(np.asarray(ann_outputs, np.float64)), dim=1)
        batches = epochs * -(-len(targets) // BATCH)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda k: 0.5 * (1 + np.cos(np.pi * k / batches)))
        order = torch.Generator().manual_seed(SEED)
        for _ in range(epochs):
            for index in torch.randperm(len(targets), generator=order).split(BATCH):
                # output potentials sum N - 1 steps of current: per step, the ANN's scale
                # the batch's trains only: all of them at once would hold N × images × inputs
                loss = torch.nn.functional.cross_entropy(
                    model(on_steps(switch_steps[index.numpy()], N)) / (N - 1), targets[index])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
        return [layer.to_float_layer() for layer in model.trainable]
