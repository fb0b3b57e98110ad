"""A design clock below the board's oscillator: an MMCM on 7-series boards (the Arty).

The Arty's oscillator runs at 100 MHz. When the design's timing proxy (the ECP5
place-and-route, Vivado is not available here) says the design does not reach 100 MHz, the
board top runs it from an MMCME2_BASE output at the fastest frequency the MMCM can make
that does not exceed the proxy's Fmax, instead of promising 100 MHz.
"""
import math
from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Elaboratable, Instance, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

# Artix-7 (-1L speed grade) MMCME2 limits: DS181 switching characteristics
VCO_MHZ = (600.0, 1200.0)
PFD_MHZ = (10.0, 450.0)
MULTIPLY = range(2, 65)         # CLKFBOUT_MULT_F (integer steps)
DIVIDE_INPUT = range(1, 107)    # DIVCLK_DIVIDE
DIVIDE_OUTPUT = range(1, 129)   # CLKOUT0_DIVIDE_F (integer steps)


@dataclass(frozen=True)
class MmcmSettings:
    input_mhz: float
    multiply: int
    divide_input: int
    divide_output: int

    @property
    def output_mhz(self) -> float:
        return self.input_mhz * self.multiply / (self.divide_input * self.divide_output)

    @property
    def vco_mhz(self) -> float:
        return self.input_mhz * self.multiply / self.divide_input


def mmcm_settings(input_mhz: float, limit_mhz: float) -> MmcmSettings:
    """The MMCM settings whose output is the fastest clock not above `limit_mhz`."""
    if limit_mhz < VCO_MHZ[0] / DIVIDE_OUTPUT[-1]:
        raise ValueError(f"no MMCM clock at or below {limit_mhz:.2f} MHz "
                         f"(the slowest is {VCO_MHZ[0] / DIVIDE_OUTPUT[-1]:.2f} MHz)")
    best = None
    for divide_input in DIVIDE_INPUT:
        pfd = input_mhz / divide_input
        if not PFD_MHZ[0] <= pfd <= PFD_MHZ[1]:
            continue
        for multiply in MULTIPLY:
            vco = pfd * multiply
            if not VCO_MHZ[0] <= vco <= VCO_MHZ[1]:
                continue
            divide_output = math.ceil(vco / limit_mhz)     # the fastest not above the limit
            if divide_output in DIVIDE_OUTPUT:
                candidate = MmcmSettings(input_mhz, multiply, divide_input, divide_output)
                if best is None or candidate.output_mhz > best.output_mhz:
                    best = candidate
    return best


class MmcmClock(Elaboratable):
    """Drives the `sync` domain (defined by the board top) from the board's default clock
    through MMCME2_BASE and a BUFG; held in reset (the board's reset button too) until the
    MMCM has locked."""

    def __init__(self, settings: MmcmSettings):
        self.settings = settings

    def elaborate(self, platform):
        m = Module()
        settings = self.settings
        m.submodules.clk_buffer = clk_buffer = io.Buffer(
            "i", platform.request(platform.default_clk, dir="-"))
        feedback, unbuffered, locked = Signal(), Signal(), Signal()
        m.submodules.mmcm = Instance(
            "MMCME2_BASE",
            p_CLKIN1_PERIOD=round(1000 / settings.input_mhz, 3),
            p_CLKFBOUT_MULT_F=float(settings.multiply),
            p_DIVCLK_DIVIDE=settings.divide_input,
            p_CLKOUT0_DIVIDE_F=float(settings.divide_output),
            i_CLKIN1=clk_buffer.i, i_CLKFBIN=feedback, i_RST=0, i_PWRDWN=0,
            o_CLKFBOUT=feedback, o_CLKOUT0=unbuffered, o_LOCKED=locked)
        m.submodules.bufg = Instance("BUFG", i_I=unbuffered, o_O=ClockSignal("sync"))
        reset = ~locked
        if platform.default_rst is not None:
            m.submodules.rst_buffer = rst_buffer = io.Buffer(
                "i", platform.request(platform.default_rst, dir="-"))
            reset = reset | rst_buffer.i
        m.submodules.reset_sync = ResetSynchronizer(reset, domain="sync")
        return m
