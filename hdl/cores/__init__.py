"""Neuron cores: one module per coding, mirroring `golden/codings/<name>.py`.

A core is the combinational datapath of one lane. The layer engine (`hdl.layer`) owns the
memories and the schedule and, each cycle, hands every lane one operation:

- `Op.STEP`: the per-phase neuron update (leak / scale, bias load when `first`), with the
  fire decision for the phase that just ended when `compare` is set;
- `Op.ADD`: one synaptic event, `weight` from the weight ROM;
- `Op.READ`: read-out pass of the output layer (state unchanged).

Flags with STEP: `first` (first pass of the layer), `compare` (pass inside the output
window, see `golden.codings.base.Schedule`), `window_start` (first pass of that window),
`settle` (the pass right before it), `last` (last STEP pass of the layer).

A core works in two pipeline stages of the engine, so that no path from one register to
the next crosses more than one wide carry chain (issue: timing on real FPGAs):

- P (`prepare(m)`): everything that does not depend on the neuron's state, from the op,
  its flags, `weight`, `bias`, `threshold` (and `enable`) into the core's `prepared`
  operands (`operand_layout(params)`): addends such as bias - θ, decoded op flags;
- B1 (`update(m)`): the state update from the registered `operands` and `state`: one
  carry chain (several side by side) and the muxes that choose among their results, or
  (the phase core) one adder whose inputs the registered operands choose.

The engine registers `prepared` into `operands` between P and B1; a single-neuron harness
connects them directly. A core module provides `state_layout(params)` (the per-neuron
word kept in the state RAM) and a class `NeuronCore(params)` (a `NeuronCoreBase` with
`operand_layout`, `prepare` and `update`). Ports: `op`, `first`, `compare`,
`window_start`, `settle`, `last`, `enable`, `weight`, `bias`, `threshold` in and `prepared` out
(stage P); `operands`, `state` in and `next_state`, `fire`, `spike_negative`, `readout`
out (stage B1). `spike_negative` (the spike is -1)
only matters for codings whose schedule has `signed_spikes`; for those the engine hands
ADD the weight already negated when the input event is -1.

A core module may also provide `input_source(n_inputs, phases, max_phase, banks)`: the
input store (an `hdl.input_store.InputStore`) that turns the streamed pixels into the
first layer's input events, when the coding does not use the binary bit planes of
`hdl.input_store.InputPlanes`.
"""
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out


class Op(enum.Enum, shape=2):
    STEP = 0
    ADD = 1
    READ = 2


STEP_FLAGS = ("first", "compare", "window_start", "settle", "last")   # one bit each, with STEP


def core_members(params, layout, operand_layout, readout_width: int) -> dict:
    """The ports every core has (see above), sized from its neuron parameters."""
    return {
        "op": In(Op),
        **{flag: In(1) for flag in STEP_FLAGS},
        "enable": In(1),
        "state": In(layout),
        "weight": In(signed(params.weight_width)),
        "bias": In(signed(params.bias_width)),
        "threshold": In(unsigned(params.threshold_width)),
        "prepared": Out(operand_layout),
        "operands": In(operand_layout),
        "next_state": Out(layout),
        "fire": Out(1),
        "spike_negative": Out(1),
        "readout": Out(signed(readout_width)),
    }


class NeuronCoreBase(wiring.Component):
    """A core's ports (`core_members`), sized from its parameters and its module's
    `state_layout` and `operand_layout`. The state is kept unless the op says otherwise:
    `prepare(m)` (stage P) fills `prepared`, `update(m)` (stage B1) says what changes."""
    readout_extra_bits = 0      # readout wider than the potential (bit-serial: + bias)

    def __init__(self, params):
        self.params = params
        super().__init__(core_members(params, self.state_layout(params),
                                      self.operand_layout(params),
                                      params.potential_width + self.readout_extra_bits))

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.next_state.eq(self.state), self.readout.eq(self.readout_value())]
        self.prepare(m)
        self.update(m)
        return m

    def readout_value(self):
        """What the output layer's argmax compares: the potential unless a core says."""
        return self.state.potential


def carry_save_sum(m, a, b, c, name: str) -> Signal:
    """a + b + c exactly as one carry-save layer (LUTs) and one adder, instead of two
    adders in a row: a signed signal wide enough for any sum of the three."""
    width = max(len(v) + (0 if v.shape().signed else 1) for v in (a, b, c)) + 2
    extended = [Signal(signed(width), name=f"{name}_{part}") for part in "abc"]
    m.d.comb += [wide.eq(value) for wide, value in zip(extended, (a, b, c))]
    x, y, z = extended
    sum_bits = (x ^ y ^ z).as_unsigned()
    carries = ((x & y) | (x & z) | (y & z)).as_unsigned()
    total = Signal(signed(width), name=name)
    m.d.comb += total.eq(sum_bits + (carries << 1)[:width])
    return total

