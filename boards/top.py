"""Board top: pixels arrive over the USB-UART, the class goes back and shows on the LEDs.

Protocol (115200 baud, 8N1): the host sends the N_in pixel bytes of an image (in the input
order of snn_top); the board answers one byte, the class index, and shows it in binary on
the user LEDs. The next image follows once the class byte has arrived (`flows.board` waits
for it): while the network computes, the receiver holds one byte, no more. No reset or
delay is needed between images. A build with weights in SPRAM (iCEBreaker, weights written
at run time) speaks the command protocol of `boards/commands.py` instead: 'W' + weights +
CRC, then 'I' + pixels per image.

`SerialClassifier` is the board top without its pins (the UART, snn_top and the class
register); `BoardTop` puts it on a board's pins. The simulated board of the regression
(`sim/serial_board.py`) runs `SerialClassifier` at the board's clock, so its UART divides
the clock exactly as the board's does.
"""
from amaranth.hdl import ClockDomain, Elaboratable, Module
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out
from amaranth.build import ResourceError

from hdl.uart import UARTReceiver, UARTTransmitter

from .commands import CommandProtocol

BAUD = 115200


class SerialClassifier(wiring.Component):
    """`snn` (the `SnnTop` whose Verilog is snn_top.v) between an 8N1 UART receiver and
    transmitter at `baud` for a `clk_frequency` (Hz) clock; `shown` holds the last class."""

    def __init__(self, snn, clk_frequency: float, baud: int = BAUD):
        self.snn, self.clk_frequency, self.baud = snn, clk_frequency, baud
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1),
                          "shown": Out(len(snn.result.payload))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.snn = snn = self.snn
        m.submodules.receiver = receiver = UARTReceiver(self.clk_frequency, self.baud)
        m.submodules.transmitter = transmitter = UARTTransmitter(self.clk_frequency, self.baud)
        m.d.comb += [receiver.rx.eq(self.rx), self.tx.eq(transmitter.tx)]
        if snn.spram_layout is not None:        # weights written at run time: commands
            m.submodules.commands = commands = CommandProtocol(
                snn.spram_layout, snn.network.layers[0].n_in, snn.result.payload.shape())
            wiring.connect(m, receiver.data, commands.received)
            wiring.connect(m, commands.reply, transmitter.data)
            wiring.connect(m, commands.pixels, snn.pixels)
            wiring.connect(m, snn.result, commands.result)
            wiring.connect(m, commands.weights_load, snn.weights_load)
        else:
            wiring.connect(m, receiver.data, snn.pixels)
            m.d.comb += [
                transmitter.data.payload.eq(snn.result.payload),     # the class, zero-extended
                transmitter.data.valid.eq(snn.result.valid),
                snn.result.ready.eq(transmitter.data.ready),
            ]
        with m.If(snn.result.valid & snn.result.ready):
            m.d.sync += self.shown.eq(snn.result.payload)
        return m


class BoardTop(Elaboratable):
    """`SerialClassifier` on a board's UART pins and user LEDs.
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
        m.submodules.serial = serial = SerialClassifier(self.snn, clk_frequency, self.baud)
        uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
        m.submodules.rx_buffer = rx_buffer = io.Buffer("i", uart.rx)
        m.submodules.tx_buffer = tx_buffer = io.Buffer("o", uart.tx)
        m.d.comb += [serial.rx.eq(rx_buffer.i), tx_buffer.o.eq(serial.tx)]
        for index in range(len(serial.shown)):
            try:
                led = platform.request("led", index, dir="-")
            except ResourceError:
                break
            m.submodules[f"led_{index}"] = buffer = io.Buffer("o", led)
            m.d.comb += buffer.o.eq(serial.shown[index])
        return m
