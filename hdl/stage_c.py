"""Stage C of the layer engine (`hdl.layer`), after the cores' update in B1: a hidden
layer's spikes leave one per cycle; the output layer's READ pass is reduced to the class.

Both take the engine (its geometry, schedule and ports) and the op leaving B1.
"""
from amaranth.hdl import Mux, Signal

from .cores import Op


def emit_spikes(engine, m, b, advance, fire_mask, negative_mask, neuron_base, busy, stall):
    """Stage C: the fired lanes of one group leave one per cycle, lowest lane first.
    More than one left holds the pipeline; the hold comes from C's registers only."""
    lanes, schedule, sites = engine.lanes, engine.schedule, engine.geometry.sites
    remaining, negative = Signal(lanes), Signal(lanes)
    event = engine.spikes.events.payload
    c_base, c_phase = Signal.like(neuron_base), Signal.like(event.phase)
    lowest = Signal(lanes)
    lane_index = Signal(range(max(lanes, 2)))
    m.d.comb += lowest.eq(remaining & -remaining)
    for lane in range(lanes):
        with m.If(lowest[lane]):
            m.d.comb += lane_index.eq(lane)
    m.d.comb += [
        stall.eq((remaining & ~lowest) != 0),
        engine.spikes.clear.eq(~busy & engine.start),
        engine.spikes.events.valid.eq(remaining != 0),
        event.neuron.eq(c_base + lane_index * sites),
        event.sign.eq(negative.bit_select(lane_index, 1) if schedule.signed_spikes else 0),
        event.phase.eq(c_phase),
    ]
    occupied = Signal(name="c_valid")   # an op is in C (spikes or not): one drain cycle
    with m.If(advance):
        m.d.sync += [occupied.eq(b.valid),
                     remaining.eq(Mux(b.valid & (b.kind == Op.STEP), fire_mask, 0)),
                     negative.eq(negative_mask), c_base.eq(neuron_base),
                     c_phase.eq(b.phase - schedule.emit_offset)]
    with m.Else():
        m.d.sync += remaining.eq(remaining & ~lowest)
    return occupied

def argmax(engine, m, b, advance, readouts, neuron_base):
    """Stage C of the output layer: the READ op's lanes reduced to (value, index) by a
    tree with one register level per tree level, then merged into the running best.
    Left wins ties at every node (strict >), so the lowest neuron index wins overall."""
    sites = engine.geometry.sites
    valid = Signal(name="c_valid")
    nodes = []
    for lane, (readout, enable) in enumerate(readouts):
        # offset binary (the sign bit flipped): the compares are unsigned, the carry
        # chain's carry out with no sign correction after it
        width = len(readout)
        value = Signal(width, name=f"c_value_{lane}")
        index = Signal.like(engine.result, name=f"c_index_{lane}")
        present = Signal(name=f"c_present_{lane}")
        m.d.sync += [value.eq(readout.as_unsigned() ^ (1 << (width - 1))),
                     index.eq(neuron_base + lane * sites), present.eq(enable)]
        nodes.append((value, index, present))
    # the READ pass's first group starts the running best (not `start`, which comes
    # from the layer before: kept off this path)
    first = Signal(name="c_first")
    m.d.sync += [valid.eq(b.valid & (b.kind == Op.READ)),
                 first.eq((b.site == 0) & (b.cg == 0))]
    valids, firsts = [valid], [first]

    def better(left, right):
        take = right[2] & (~left[2] | (right[0] > left[0]))
        return (Mux(take, right[0], left[0]), Mux(take, right[1], left[1]),
                left[2] | right[2])

    level = 0
    while len(nodes) > 1:
        level += 1
        merged = []
        for pair in range(0, len(nodes), 2):
            if pair + 1 == len(nodes):
                result = nodes[pair]
            else:
                result = better(nodes[pair], nodes[pair + 1])
            registers = (Signal(nodes[0][0].shape(), name=f"tree{level}_value_{pair // 2}"),
                         Signal.like(engine.result, name=f"tree{level}_index_{pair // 2}"),
                         Signal(name=f"tree{level}_present_{pair // 2}"))
            m.d.sync += [register.eq(value) for register, value in zip(registers, result)]
            merged.append(registers)
        nodes = merged
        stage_valid, stage_first = (Signal(name=f"tree{level}_{what}")
                                    for what in ("valid", "first"))
        m.d.sync += [stage_valid.eq(valids[-1]), stage_first.eq(firsts[-1])]
        valids.append(stage_valid)
        firsts.append(stage_first)
    # Every READ op has lane 0 (a group's first lane always holds a neuron), so the
    # tree's result is always present: the running best takes it on the first group or
    # when strictly greater, one compare into the registers' enable (the loop that
    # limits the clock where the tree is short).
    value, index, _ = nodes[0]
    best_value = Signal(value.shape(), name="best_value")
    best_index = Signal.like(engine.result, name="best_index")
    with m.If(valids[-1] & (firsts[-1] | (value > best_value))):
        m.d.sync += [best_value.eq(value), best_index.eq(index)]
    m.d.comb += engine.result.eq(best_index)
    in_flight = valids[0]
    for stage_valid in valids[1:]:
        in_flight = in_flight | stage_valid
    return in_flight
