"""cocotb driver and monitor for `snn_top`: stream images in, record class and latency.

Inputs come from the .npy file named by SNN_IMAGES; outputs go to SNN_OUTPUTS (JSON). With
SNN_WEIGHTS (an .npy of SPRAM store words, `hdl.spram`), they are written through the
weights_load port first, one word per cycle.
The checker (golden comparison) lives in the pytest that runs this.
"""
import json
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import First, ReadOnly, RisingEdge, Timer

MAX_LATENCY = 5_000_000


class PixelDriver:
    def __init__(self, dut):
        self.dut = dut

    async def send(self, image):
        dut = self.dut
        for pixel in image:
            dut.pixels__payload.value = int(pixel)
            dut.pixels__valid.value = 1
            while True:
                await ReadOnly()
                accepted = bool(dut.pixels__ready.value)
                await RisingEdge(dut.clk)   # the handshake happens on this edge
                if accepted:
                    break
        dut.pixels__valid.value = 0


class ResultMonitor:
    def __init__(self, dut, period_ns: int):
        self.dut, self.period_ns = dut, period_ns

    async def receive(self):
        """Wait for result__valid; return (class, cycles waited since the last pixel).
        The simulator runs free until valid rises (no Python on every clock edge); the
        cycles are the simulated time since the last pixel's edge, in clock periods."""
        dut = self.dut
        dut.result__ready.value = 1
        started = get_sim_time("ns")
        await ReadOnly()
        if not dut.result__valid.value:
            await First(RisingEdge(dut.result__valid),
                        Timer(MAX_LATENCY * self.period_ns, unit="ns"))
            await ReadOnly()
            if not dut.result__valid.value:
                raise TimeoutError(f"no result after {MAX_LATENCY} cycles")
        cycles, remainder = divmod(get_sim_time("ns") - started, self.period_ns)
        assert remainder == 0, "result__valid rose between clock edges"
        value = int(dut.result__payload.value)
        await RisingEdge(dut.clk)       # the handshake happens on this edge
        return value, int(cycles)


@cocotb.test()
async def classify_images(dut):
    images = np.load(os.environ["SNN_IMAGES"])
    period_ns = 10
    cocotb.start_soon(Clock(dut.clk, period_ns, unit="ns").start())
    dut.rst.value = 1
    dut.pixels__valid.value = 0
    dut.result__ready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    if os.environ.get("SNN_WEIGHTS"):
        for address, word in enumerate(np.load(os.environ["SNN_WEIGHTS"]).tolist()):
            dut.weights_load__addr.value = address
            dut.weights_load__data.value = word
            dut.weights_load__en.value = 1
            await RisingEdge(dut.clk)
        dut.weights_load__en.value = 0
    driver, monitor = PixelDriver(dut), ResultMonitor(dut, period_ns)
    classes, latency = [], []
    started_wall, started_ns = time.perf_counter(), get_sim_time("ns")
    for image in images:   # back to back, no reset in between
        await driver.send(image)
        value, cycles = await monitor.receive()
        classes.append(value)
        latency.append(cycles)
    with open(os.environ["SNN_OUTPUTS"], "w") as f:
        json.dump({"classes": classes, "latency": latency,
                   # for bench/verilator_speed.py: simulated time and wall time of the images
                   "sim_time_ns": get_sim_time("ns") - started_ns,
                   "wall_seconds": time.perf_counter() - started_wall}, f)
