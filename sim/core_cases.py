"""Random core test cases: random parameters and stimuli, expectations from golden.

Each `<coding>_case(seed)` returns (neuron params, case dict for `sim/tb_core.py`). The
op sequence is the one the layer engine issues for one neuron (hdl/layer.py).
"""
from fractions import Fraction

import numpy as np
from amaranth.hdl import Shape

from golden.codings import bitserial, phase, rate, tsc
from hdl.cores import Op
from hdl.cores import rate as rate_core


def _op(kind, note, *, first=0, compare=0, window_start=0, settle=0, last=0, weight=0, bias=0,
        threshold=0, fire=0, negative=0, potential_before=None, readout=None):
    return {"op": kind.value, "note": note, "first": first, "compare": compare,
            "window_start": window_start, "settle": settle, "last": int(last),
            "weight": int(weight), "bias": int(bias), "threshold": int(threshold),
            "fire": int(fire), "negative": int(negative),
            "potential_before": None if potential_before is None else int(potential_before),
            "readout": None if readout is None else int(readout)}


def _stimulus(rng, n_in, phases, neurons, weight_bits):
    top = (1 << (weight_bits - 1)) - 1
    weight = rng.integers(-top, top + 1, size=(n_in, neurons))
    spikes = rng.random((phases, n_in)) < 0.35
    inputs = [[[int(weight[i, j]) for i in np.flatnonzero(spikes[k])] for k in range(phases)]
              for j in range(neurons)]
    return weight, top, inputs


def phase_case(seed: int, neurons: int = 12):
    """Random T, Q (fixed point), wait, weight width, guard bits, input base."""
    rng = np.random.default_rng(seed)
    T, weight_bits = int(rng.integers(2, 17)), int(rng.integers(3, 10))
    guard, wait = int(rng.integers(0, 5)), int(rng.integers(0, T + 1))
    q_out = phase.FixedQ.from_float(float(rng.uniform(1.05, 2.0)), int(rng.integers(2, 9)))
    q_in = phase.BINARY if rng.random() < 0.3 else q_out
    weight, top, inputs = _stimulus(rng, int(rng.integers(1, 12)), T, neurons, weight_bits)
    bias = rng.integers(-(top << guard), (top << guard) + 1, size=neurons)
    theta = Fraction(float(rng.uniform(1, 2 * top))) * (1 << guard)
    table = phase.threshold_table(theta, q_in, q_out, T, wait)
    layer = phase.PhaseLayer("core test", weight, bias, q_in, q_out, T + wait, T, wait, guard,
                             table, is_output=False)
    layer.derive_widths()
    params = layer.neuron_params
    ops = []
    for j in range(neurons):
        trace, fired = phase.neuron_trace(params, int(bias[j]), inputs[j], table, T + wait, wait)
        for k in range(1, T + wait + 2):
            t = k - 1 - wait
            compare = 1 <= t <= T
            ops.append(_op(Op.STEP, f"neuron {j} STEP {k}", first=int(k == 1),
                           compare=int(compare), bias=bias[j],
                           threshold=table[t - 1] if compare else 0,
                           fire=compare and fired == t,
                           potential_before=trace[k - 2] if k >= 2 else None))
            for weight_value in (inputs[j][k - 1] if k <= T else []):
                ops.append(_op(Op.ADD, f"neuron {j} ADD phase {k}", weight=weight_value,
                               bias=bias[j]))
    return params, {"potential_width": params.potential_width, "ops": ops}


def _bitserial_case(seed: int, neurons: int, power_of_two: bool):
    """Random T_in, T, θ, weight width; hidden extraction and output read-out."""
    rng = np.random.default_rng(seed)
    T_in, T, weight_bits = int(rng.integers(2, 9)), int(rng.integers(2, 9)), int(rng.integers(3, 10))
    weight, top, inputs = _stimulus(rng, int(rng.integers(1, 12)), T_in, neurons, weight_bits)
    if power_of_two:
        theta = 1 << (int(rng.integers(0, 8)) + T)          # radix: θ = 2^(ΔT+T)
    else:
        theta = int(rng.integers(1, 200)) << (T + 1)         # deferred: any multiple of 2^(T+1)
    bias = rng.integers(-(top << T_in), (top << T_in) + 1, size=neurons)
    layer = bitserial.BitSerialLayer("core test", weight, bias, theta, T_in, T, is_output=False)
    layer.derive_widths()
    params, table = layer.neuron_params, layer.threshold_table
    ops = []
    for j in range(neurons):
        trace, bits = bitserial.neuron_trace(int(bias[j]), inputs[j], table, T_in)
        for k in range(1, T_in + 1):
            ops.append(_op(Op.STEP, f"neuron {j} STEP {k}", first=int(k == 1), bias=bias[j],
                           potential_before=trace[k - 2] if k >= 2 else None))
            for weight_value in inputs[j][k - 1]:
                ops.append(_op(Op.ADD, f"neuron {j} ADD phase {k}", weight=weight_value,
                               bias=bias[j]))
        ops.append(_op(Op.READ, f"neuron {j} READ", bias=bias[j], potential_before=trace[-1],
                       readout=trace[-1] + int(bias[j])))
        for t in range(1, T + 1):
            ops.append(_op(Op.STEP, f"neuron {j} extract bit {t}", compare=1,
                           window_start=int(t == 1), bias=bias[j], threshold=table[t - 1],
                           fire=bits[t - 1],
                           potential_before=trace[-1] if t == 1 else None))
    return params, {"potential_width": params.potential_width, "ops": ops}


def radix_case(seed: int, neurons: int = 12):
    return _bitserial_case(seed, neurons, power_of_two=True)


def deferred_case(seed: int, neurons: int = 12):
    return _bitserial_case(seed, neurons, power_of_two=False)


def rate_case(seed: int, neurons: int = 12):
    """Random T, θ, v(0), widths; constant-coded, spiking-input or output neuron."""
    rng = np.random.default_rng(seed)
    T, weight_bits = int(rng.integers(1, 12)), int(rng.integers(3, 10))
    kind = ("constant", "spiking", "output")[seed % 3]
    phases = 8 if kind == "constant" else T
    weight, top, inputs = _stimulus(rng, int(rng.integers(1, 12)), phases, neurons, weight_bits)
    scale = 256 if kind == "constant" else 1
    bias = rng.integers(-top * scale, top * scale + 1, size=neurons)
    threshold = 0 if kind == "output" else int(rng.integers(1, 4 * top * scale))
    v0 = threshold // 2 if rng.random() < 0.5 else 0
    layer = rate.RateLayer("core test", weight, bias, threshold, T, kind == "constant",
                           kind == "output", v0)
    layer.derive_widths()
    params = layer.neuron_params
    ops = []
    for j in range(neurons):
        trace, spikes, _ = rate.neuron_trace(params, int(bias[j]), inputs[j], threshold, T,
                                             is_output=kind == "output")
        if kind == "constant":
            for k in range(1, 9):
                ops.append(_op(Op.STEP, f"neuron {j} current pass {k}", first=int(k == 1),
                               bias=bias[j], threshold=threshold))
                for weight_value in inputs[j][k - 1]:
                    ops.append(_op(Op.ADD, f"neuron {j} ADD plane {k}", weight=weight_value,
                                   bias=bias[j], threshold=threshold))
            # the core keeps w = m(t+1) - θ (hdl/cores/rate.py): after the settle pass
            # m(1) - θ, after step t the next step's m less θ
            ahead = [m - threshold for m in trace]
            ops.append(_op(Op.STEP, f"neuron {j} settle pass", settle=1, bias=bias[j],
                           threshold=threshold))
            for t in range(1, T + 1):
                ops.append(_op(Op.STEP, f"neuron {j} step {t}", compare=1,
                               window_start=int(t == 1), bias=bias[j], threshold=threshold,
                               fire=spikes[t - 1], potential_before=ahead[t - 1]))
            continue
        for k in range(1, T + 2):
            compare = kind == "spiking" and k >= 2
            if k == T + 1 and kind == "output":
                ops.append(_op(Op.READ, f"neuron {j} READ", bias=bias[j],
                               potential_before=trace[-1], readout=trace[-1]))
                break
            ops.append(_op(Op.STEP, f"neuron {j} step {k}", first=int(k == 1),
                           compare=int(compare), bias=bias[j], threshold=threshold,
                           fire=compare and spikes[k - 2],
                           potential_before=trace[k - 2] if k >= 2 else None))
            for weight_value in (inputs[j][k - 1] if k <= T else []):
                ops.append(_op(Op.ADD, f"neuron {j} ADD step {k}", weight=weight_value,
                               bias=bias[j], threshold=threshold))
    width = Shape.cast(rate_core.state_layout(params).members["potential"]).width
    return params, {"potential_width": width, "ops": ops}


def tsc_case(seed: int, neurons: int = 12):
    """Random N, θ, widths, cap on runs; signed input trains of several runs each (+1, -1,
    +1, ..., the last run possibly open to the end); hidden or output."""
    rng = np.random.default_rng(seed)
    T, weight_bits = int(rng.integers(2, 20)), int(rng.integers(3, 10))
    is_output = seed % 4 == 0
    runs = int(rng.choice([0, 1, 2, 3]))
    n_in = int(rng.integers(1, 12))
    top = (1 << (weight_bits - 1)) - 1
    weight = rng.integers(-top, top + 1, size=(n_in, neurons))
    # Each input toggles on and off at random steps: +1 at the 1st, 3rd, ... toggle, -1 at
    # the others.
    sign = np.zeros((T, n_in), dtype=np.int64)
    for i in range(n_in):
        toggles = np.sort(rng.choice(T, size=int(rng.integers(0, min(T, 6) + 1)), replace=False))
        sign[toggles, i] = [1 if k % 2 == 0 else -1 for k in range(len(toggles))]
    bias = rng.integers(-top, top + 1, size=neurons)
    threshold = 0 if is_output else int(rng.integers(1, 3 * top))
    layer = tsc.TscLayer("core test", weight, bias, threshold, T, is_output, runs)
    layer.derive_widths()
    params = layer.neuron_params
    ops = []
    for j in range(neurons):
        inputs = [[int(weight[i, j] * sign[t, i]) for i in np.flatnonzero(sign[t])]
                  for t in range(T)]
        currents, potentials, spikes = tsc.neuron_trace(params, int(bias[j]), inputs,
                                                        threshold, T, is_output)
        for k in range(1, T + 2):
            ops.append(_op(Op.STEP, f"neuron {j} STEP {k}", first=int(k == 1),
                           compare=int(not is_output and k >= 2), last=int(k == T + 1),
                           bias=bias[j], threshold=threshold,
                           fire=k >= 2 and spikes[k - 2] != 0,
                           negative=k >= 2 and spikes[k - 2] < 0,
                           potential_before=potentials[k - 3] if k >= 3 else None))
            for signed_weight in (inputs[k - 1] if k <= T else []):
                # the engine hands the core the weight already negated for a -1 event
                ops.append(_op(Op.ADD, f"neuron {j} ADD step {k}", weight=signed_weight,
                               bias=bias[j], threshold=threshold))
        if is_output:
            ops.append(_op(Op.READ, f"neuron {j} READ", bias=bias[j],
                           potential_before=potentials[-1], readout=potentials[-1]))
    return params, {"potential_width": params.potential_width, "ops": ops}


CASES = {"phase": phase_case, "radix": radix_case, "deferred": deferred_case,
         "rate": rate_case, "tsc": tsc_case}
