"""One state RAM for every layer: the neuron states of all layers in one memory.

The layers of `snn_top` run one after another (a layer starts when the one before is
done), so only the busy layer reads and writes its states. Each layer keeps its region of
the memory (aligned to a power of two, so its base is ORed onto its addresses, not added)
and sees the memory through a `StatePort`: the same read and write ports, the same
transparency, the same latency as a RAM of its own, so no cycle changes. Where block RAMs
are small and few (the iCE40 UP5K's 4-kbit EBRs), a layer's state of a few hundred bits
takes a whole block of its own; here the states of a network share their blocks. It costs
a multiplexer on the state ports (selected by the busy layer) and a register per layer on
the write (so that the multiplexer is not at the end of the cores' update).
"""
from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Shape, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


def StatePort(shape, depth: int) -> wiring.Signature:
    """A layer's state RAM, seen from the layer (`active`: the layer is busy)."""
    return wiring.Signature({
        "active": Out(1),
        "read_addr": Out(range(max(depth, 2))), "read_en": Out(1), "read_data": In(shape),
        "write_addr": Out(range(max(depth, 2))), "write_en": Out(1), "write_data": Out(shape),
    })


def port_views(port):
    """(read, write) with `addr`, `en`, `data` as a memory's ports have them."""
    return (SimpleNamespace(addr=port.read_addr, en=port.read_en, data=port.read_data),
            SimpleNamespace(addr=port.write_addr, en=port.write_en, data=port.write_data))


def region_size(depth: int) -> int:
    return 1 << (max(depth, 2) - 1).bit_length()


class SharedStateRam(wiring.Component):
    """`layers`: (state shape, depth) per layer; port `layer_<i>` serves layer i."""

    def __init__(self, layers):
        self.layers = list(layers)
        # the biggest regions first: every base is then a multiple of its region's size
        self.bases, base = [0] * len(self.layers), 0
        for index in sorted(range(len(self.layers)),
                            key=lambda i: -region_size(self.layers[i][1])):
            self.bases[index] = base
            base += region_size(self.layers[index][1])
        self.depth = base
        self.width = max(Shape.cast(shape).width for shape, _ in self.layers)
        super().__init__({f"layer_{i}": In(StatePort(shape, depth))
                          for i, (shape, depth) in enumerate(self.layers)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.memory = memory = Memory(shape=unsigned(self.width),
                                              depth=max(self.depth, 2), init=[])
        write = memory.write_port()
        read = memory.read_port(transparent_for=(write,))
        fields = {"read_addr": 0, "read_en": 0, "write_addr": 0, "write_en": 0,
                  "write_data": 0}
        for index, base in enumerate(self.bases):
            port = getattr(self, f"layer_{index}")
            width = Shape.cast(self.layers[index][0]).width
            # A layer's write is registered here (its core's update ends in a register,
            # not in the multiplexer of the layers' writes and the memory's data input)
            # and lands a cycle late: once, in the cycle after the layer's read port
            # advanced with it. The read that advanced in the same cycle (the op two
            # behind the writer) then takes the registered write when it is to the same
            # word, so the layer sees a RAM of its own (`StatePort`).
            advanced = port.active & port.read_en
            pending_addr = Signal(range(max(self.depth, 2)), name=f"pending_addr_{index}")
            pending_data = Signal(width, name=f"pending_data_{index}")
            pending_en, bypass = Signal(name=f"pending_en_{index}"), Signal(name=f"bypass_{index}")
            m.d.sync += pending_en.eq(advanced & port.write_en)
            with m.If(advanced):
                m.d.sync += [pending_addr.eq(port.write_addr | base),
                             pending_data.eq(port.write_data.as_value()),
                             bypass.eq(port.write_en & (port.write_addr == port.read_addr))]
            fields["read_addr"] |= Mux(port.active, port.read_addr | base, 0)
            fields["read_en"] |= advanced
            fields["write_addr"] |= Mux(pending_en, pending_addr, 0)
            fields["write_en"] |= pending_en
            fields["write_data"] |= Mux(pending_en, pending_data, 0)
            m.d.comb += port.read_data.eq(Mux(bypass, pending_data, read.data[:width]))
        m.d.comb += [read.addr.eq(fields["read_addr"]), read.en.eq(fields["read_en"]),
                     write.addr.eq(fields["write_addr"]), write.en.eq(fields["write_en"]),
                     write.data.eq(fields["write_data"])]
        return m
