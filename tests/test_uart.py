"""The board tops' UART: transmitter looped back into receiver, byte for byte."""
from amaranth.hdl import Module
from amaranth.sim import Simulator

from hdl.uart import UARTReceiver, UARTTransmitter


def test_uart_loopback():
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(clk_frequency=10, baud=1)
    m.submodules.rx = rx = UARTReceiver(clk_frequency=10, baud=1)
    m.d.comb += rx.rx.eq(tx.tx)
    sent, received = [0x00, 0xFF, 0xA5, 0x3C, 7], []
    sim = Simulator(m)
    sim.add_clock(1e-6)

    async def send(ctx):
        for byte in sent:
            ctx.set(tx.data.payload, byte)
            ctx.set(tx.data.valid, 1)
            await ctx.tick().until(tx.data.ready)
        ctx.set(tx.data.valid, 0)

    async def receive(ctx):
        ctx.set(rx.data.ready, 1)
        while len(received) < len(sent):
            await ctx.tick().until(rx.data.valid)
            received.append(ctx.get(rx.data.payload))
            await ctx.tick()

    sim.add_testbench(send)
    sim.add_testbench(receive)
    sim.run_until(1e-6 * 2000)
    assert received == sent
