"""cocotb bridge between a pseudo-terminal and the simulated board's UART pins.

The board top without its pins (`boards.top.SerialClassifier`) runs at the board's clock;
this testbench opens a pty, tells the host side its name (the file SNN_PTY_NAME), and from
then on turns every byte the host writes into an 8N1 frame on `rx` and every 8N1 frame on
`tx` into a byte the host reads, both at the real baud rate (SNN_BAUD). A host program
talks to the pty as to a USB-UART (`serial.Serial(name)`), unchanged. The bridge stops
when the file SNN_DONE appears (or after SNN_WALL_SECONDS of wall time).
"""
import os
import pty
import time
import tty

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, Timer


class PtyUart:
    """The host's end of the serial line, as 8N1 frames on the DUT's rx and tx pins."""

    def __init__(self, dut, bit_ps: int):
        self.dut, self.bit_ps = dut, bit_ps
        self.master, slave = pty.openpty()
        tty.setraw(slave)               # no echo, no line editing: a byte is a byte
        os.set_blocking(self.master, False)
        self.slave_name = os.ttyname(slave)
        self.slave = slave              # held open: the pty lives until the bridge stops

    def pending(self) -> bytes:
        try:
            return os.read(self.master, 4096)
        except (BlockingIOError, OSError):
            return b""

    async def send(self, byte: int) -> None:
        for level in [0, *((byte >> bit) & 1 for bit in range(8)), 1]:
            self.dut.rx.value = level
            await Timer(self.bit_ps, unit="ps")

    async def receive_forever(self) -> None:
        while True:
            await FallingEdge(self.dut.tx)
            await Timer(self.bit_ps * 3 // 2, unit="ps")      # the middle of data bit 0
            byte = 0
            for bit in range(8):
                byte |= int(self.dut.tx.value) << bit
                await Timer(self.bit_ps, unit="ps")
            if int(self.dut.tx.value) != 1:
                raise AssertionError("the board's frame has no stop bit")
            os.write(self.master, bytes([byte]))

    def close(self) -> None:
        os.close(self.slave)
        os.close(self.master)


@cocotb.test()
async def serial_bridge(dut):
    clock_ps, baud = int(os.environ["SNN_CLOCK_PS"]), int(os.environ["SNN_BAUD"])
    clock_ps += clock_ps % 2            # a clock of whole picoseconds per half period
    done, deadline = os.environ["SNN_DONE"], time.monotonic() + float(
        os.environ.get("SNN_WALL_SECONDS", "600"))
    cocotb.start_soon(Clock(dut.clk, clock_ps, unit="ps").start())
    dut.rx.value = 1
    dut.rst.value = 1
    for _ in range(4):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    uart = PtyUart(dut, round(1e12 / baud))
    name_file = os.environ["SNN_PTY_NAME"]
    with open(name_file + ".part", "w") as f:
        f.write(uart.slave_name)
    os.replace(name_file + ".part", name_file)        # the host never reads half a name
    cocotb.start_soon(uart.receive_forever())
    try:
        while not os.path.exists(done):
            if time.monotonic() > deadline:
                raise TimeoutError("the host did not finish within SNN_WALL_SECONDS")
            data = uart.pending()
            for byte in data:
                await uart.send(byte)
            if not data:
                await Timer(uart.bit_ps, unit="ps")     # the line idles high
    finally:
        uart.close()
