"""Board top: pixels arrive over the USB-UART, the class goes back and shows on the LEDs.

Protocol (115200 baud, 8N1): the host sends the N_in pixel bytes of an image (row-major);
the board answers one byte, the class index, and shows it in binary on the user LEDs.
Images may follow each other without any reset or delay.
"""
from amaranth.hdl import ClockDomain, Elaboratable, Module, Signal
from amaranth.lib import io, wiring
from amaranth.build import ResourceError

from hdl.uart import UARTReceiver, UARTTransmitter

BAUD = 115200


class BoardTop(Elaboratable):
    """Wraps `snn` (the `SnnTop` whose Verilog is snn_top.v) between the UART and the LEDs.
    `clock` (`boards.clocking.MmcmSettings`): run from an MMCM clock below the board's."""

    def __init__(self, snn, baud: int = BAUD, clock=None):
        self.snn, self.baud, self.clock = snn, baud, clock

    def elaborate(self, platform):
        m = Module()
        clk_frequency = platform.default_clk_frequency
        if self.clock is not None:
            from .clocking import MmcmClock
            m.domains.sync = ClockDomain("sync")
            m.submodules.clock = MmcmClock(self.clock)
            clk_frequency = self.clock.output_mhz * 1e6
        uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
        m.submodules.rx_buffer = rx_buffer = io.Buffer("i", uart.rx)
        m.submodules.tx_buffer = tx_buffer = io.Buffer("o", uart.tx)
        m.submodules.snn = snn = self.snn
        m.submodules.receiver = receiver = UARTReceiver(clk_frequency, self.baud)
        m.submodules.transmitter = transmitter = UARTTransmitter(clk_frequency, self.baud)
        wiring.connect(m, receiver.data, snn.pixels)
        m.d.comb += [
            receiver.rx.eq(rx_buffer.i),
            tx_buffer.o.eq(transmitter.tx),
            transmitter.data.payload.eq(snn.result.payload),
            transmitter.data.valid.eq(snn.result.valid),
            snn.result.ready.eq(transmitter.data.ready),
        ]
        shown = Signal.like(snn.result.payload)
        with m.If(snn.result.valid & snn.result.ready):
            m.d.sync += shown.eq(snn.result.payload)
        for index in range(len(shown)):
            try:
                led = platform.request("led", index, dir="-")
            except ResourceError:
                break
            buffer = io.Buffer("o", led)
            m.submodules[f"led_{index}"] = buffer
            m.d.comb += buffer.o.eq(shown[index])
        return m
