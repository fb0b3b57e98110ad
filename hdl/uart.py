"""8N1 UART receiver and transmitter as byte streams (for the board tops)."""
from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out


def _divisor(clk_frequency: float, baud: int) -> int:
    divisor = int(round(clk_frequency / baud))
    if divisor < 4:
        raise ValueError(f"clock {clk_frequency} Hz is too slow for {baud} baud")
    return divisor


class UARTReceiver(wiring.Component):
    """Samples each bit in its middle; a byte whose stop bit is 0 is dropped."""
    rx: In(1)
    data: Out(stream.Signature(8))

    def __init__(self, clk_frequency: float, baud: int = 115200):
        self.divisor = _divisor(clk_frequency, baud)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(self.divisor * 3 // 2 + 1))
        bits = Signal(range(9))
        shift = Signal(8)
        with m.If(self.data.ready):
            m.d.sync += self.data.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += [timer.eq(self.divisor * 3 // 2 - 1), bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += timer.eq(self.divisor - 1)
                    with m.If(bits == 8):
                        with m.If(rx):
                            m.d.sync += [self.data.payload.eq(shift), self.data.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [shift.eq((shift >> 1) | (rx << 7)), bits.eq(bits + 1)]
        return m


class UARTTransmitter(wiring.Component):
    data: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, clk_frequency: float, baud: int = 115200):
        self.divisor = _divisor(clk_frequency, baud)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        frame = Signal(10)
        bits = Signal(range(11))
        m.d.comb += self.data.ready.eq(bits == 0)
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [frame.eq(self.data.payload.shift_left(1) | (1 << 9)), bits.eq(10),
                         timer.eq(0)]
        with m.Elif(bits != 0):
            m.d.sync += timer.eq(timer + 1)
            with m.If(timer == 0):
                m.d.sync += [self.tx.eq(frame[0]), frame.eq(frame >> 1)]
            with m.If(timer == self.divisor - 1):
                m.d.sync += [timer.eq(0), bits.eq(bits - 1)]
        with m.Else():
            m.d.sync += self.tx.eq(1)
        return m
