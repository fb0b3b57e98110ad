"""Does the design fit the board's block RAM? Answered before any synthesis tool runs.

`design_memories(top)` elaborates the Amaranth design (no tools) and lists its memories;
`memory_blocks` prices one memory the way Yosys' `memory_libmap` does in `synth_ice40` and
`synth_xilinx -family xc7` (the cost of each block RAM, LUT RAM or plain-logic mapping; the
cheapest wins; logic wins ties): so small ROMs become LUTs, small RAMs LUT RAM (Xilinx) or
flip-flops, and the rest block RAMs. `check_fit(top, board)` adds them up and raises
`DoesNotFit` when the device has too few. An estimate, meant as an upper one: it drops a
ROM's constant bit lanes as Yosys' `opt_mem` does, but not read bits the logic never uses.
"""
import functools
import math
from typing import NamedTuple

from amaranth.hdl import Fragment, MemoryInstance, Shape

from hdl.spram import SPRAM_WIDTH, SPRAM_WORDS, STORE_NAME, UP5K_SPRAMS, SpramFull

from .targets import StepError

MUX, DEMUX, EMU = 0.5, 0.5, 2       # memory_libmap's weights of its soft-logic scores
SPRAM_BITS = SPRAM_WORDS * SPRAM_WIDTH


class DoesNotFit(StepError):
    """The design needs more block RAM than the board's device has (exit status 1);
    `estimate`: `check_fit`'s figures of the last design tried (None when none was
    estimated)."""

    def __init__(self, message: str, estimate: dict | None = None):
        super().__init__(message)
        self.estimate = estimate


class DesignMemory(NamedTuple):
    name: str            # hierarchical, e.g. "layer1.weights"
    width: int           # bits per word
    depth: int           # words
    reads: int = 1       # read ports
    writes: int = 0      # write ports (0: a ROM)
    transparent: int = 0  # read ports transparent to a write port
    async_read: bool = False  # a combinational read port (no block RAM can take it)
    live_width: int = -1  # a ROM's bit lanes that differ between words (-1: all of them)

    @property
    def stored_width(self) -> int:
        """The width Yosys maps: `opt_mem` drops a ROM's constant bit lanes first."""
        return self.width if self.live_width < 0 else self.live_width


class RamKind(NamedTuple):
    """One `ram` of a Yosys memory library: its cost, geometries (depth, width) and ports."""
    name: str
    cost: float          # memory_libmap cost of one instance
    configs: tuple
    blocks: float        # block RAMs counted per instance (0: LUT RAM, not block RAM)
    read_slots: int = 1  # read ports one instance serves
    shared: bool = False  # the write port takes one of those slots (true dual port)
    byte: int = 0        # write-enable granularity (0: the whole word)
    scale: float = 0     # `widthscale`: the part of the cost paid per used width


XC7_TDP18 = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18))
XC7_TDP36 = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36))
FAMILIES = {
    # synth_ice40: brams.txt ($__ICE40_RAM4K_, cost 64); logic costs: ROM 1/16, RAM 1 per bit.
    "ice40": dict(rom_bit=1 / 16, ram_bit=1, kinds=(
        RamKind("EBR", 64, ((2048, 2), (1024, 4), (512, 8), (256, 16)), 1, byte=1),)),
    # synth_xilinx -family xc7: brams_xc4v.txt (HAS_SIZE_36, HAS_CASCADE, HAS_MIXWIDTH_SDP)
    # and lutrams_xc5v.txt; logic costs: ROM 1/64, RAM 1 per bit. Counted in RAMB36.
    "xc7": dict(rom_bit=1 / 64, ram_bit=1, kinds=(
        RamKind("RAMB18", 129, XC7_TDP18, 0.5, 2, True, 9),
        RamKind("RAMB18", 129, XC7_TDP18 + ((512, 36),), 0.5, byte=9),
        RamKind("RAMB36", 257, XC7_TDP36, 1, 2, True, 9),
        RamKind("RAMB36", 257, XC7_TDP36 + ((512, 72),), 1, byte=9),
        RamKind("RAMB36x2", 513, ((65536, 1), (32768, 2), (16384, 4), (8192, 9)), 2, 2, True, 9),
        RamKind("LUTRAM", 8, ((32, 4), (64, 2), (128, 1)), 0, 2, True, scale=8),
        RamKind("LUTRAM", 7, ((32, 2), (64, 1)), 0, 4, True, scale=7),
        RamKind("LUTRAM", 8, ((32, 6), (64, 3)), 0, scale=7))),
    # synth_ecp5: brams_16kd.txt (DP16KD true dual port, PDPW16KD 36 wide) and
    # lutrams_trellis.txt (16x4, asynchronous read, RAM only); default logic costs.
    "ecp5": dict(rom_bit=1 / 16, ram_bit=1, kinds=(
        RamKind("DP16KD", 128, ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18)), 1,
                2, True, 9),
        RamKind("PDPW16KD", 128, ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18),
                                  (512, 36)), 1, byte=9),
        RamKind("TRELLIS_DPR16X4", 4, ((16, 4),), 0))),
}
BOARDS = {
    "icebreaker": dict(family="ice40", available=30, unit="EBR (4 kbit)", block_bits=4096,
                       device="iCE40UP5K block RAMs (EBR, 4 kbit)", sprams=UP5K_SPRAMS,
                       note="weight tables in its 4 SPRAMs are counted apart", lean_memory=True),
    "ulx3s": dict(family="ecp5", available=208, unit="EBR (18 kbit)", block_bits=18432,
                  device="LFE5U-85F block RAMs (DP16KD, 18 kbit)", note="", sprams=0,
                  lean_memory=False),
    "arty": dict(family="xc7", available=50, unit="BRAM36", block_bits=36864,
                 device="XC7A35T block RAMs (RAMB36; a RAMB18 counts 1/2)", note="", sprams=0,
                 lean_memory=False),
}
WEIGHTS_IN = ("auto", "block-ram", "spram")
MEMORY_PLANS = ("auto", "fast", "lean")
FAST = {"input_banks": 2, "shared_state": False}
ONE_BANK = {"input_banks": 1, "shared_state": False}
LEAN = {"input_banks": 1, "shared_state": True}


def design_memories(top) -> list[DesignMemory]:
    """Every memory of `top` (any Elaboratable), from its elaborated fragment tree; the
    SPRAM weight store's models are not block RAM and not among them."""
    found = []

    def walk(fragment, path):
        if path[-1:] == [STORE_NAME]:
            return
        if isinstance(fragment, MemoryInstance):
            data, reads, writes = fragment._data, fragment._read_ports, fragment._write_ports
            width = Shape.cast(data.shape).width          # (the private fields: no public API)
            words, varying = data.init._raw, 0
            for word in words:
                varying |= (word ^ words[0]) & ((1 << width) - 1)
            found.append(DesignMemory(
                ".".join(path), width, data.depth, len(reads), len(writes),
                sum(bool(p._transparent_for) for p in reads),
                any(p._domain == "comb" for p in reads),
                -1 if writes else bin(varying).count("1")))
        for index, (sub, name, _) in enumerate(fragment.subfragments):
            walk(sub, path + [name if isinstance(name, str) else f"U${index}"])
    walk(Fragment.get(top, platform=None), [])
    return found


def kind_cost(kind: RamKind, memory: DesignMemory) -> tuple[float, int]:
    """(memory_libmap's cost, instances) of the cheapest geometry of `kind` for `memory`."""
    width, depth, reads = memory.stored_width, memory.depth, max(memory.reads, 1)
    copies = math.ceil(reads / (kind.read_slots - (kind.shared and memory.writes > 0)))
    best = None
    for config_depth, config_width in kind.configs:
        byte = kind.byte if 0 < kind.byte <= config_width else config_width
        padded = math.ceil(width / byte) * byte if memory.writes else width   # ROM: no bytes
        slices = math.ceil(depth / config_depth)          # depth chunks, muxed on read
        instances = math.ceil(slices * padded / config_width) * copies
        cost = (kind.cost - kind.scale) * instances \
            + kind.scale * slices * width / config_width * copies \
            + MUX * (slices - 1) * width * reads \
            + DEMUX * (slices * memory.writes if slices > 1 else 0) \
            + EMU * (reads + 3 * memory.transparent)
        if best is None or cost < best[0]:
            best = (cost, instances)
    return best


def memory_blocks(memory: DesignMemory, family: str) -> tuple[str, float]:
    """(where Yosys puts it: a RamKind name or "logic", block RAMs it takes)."""
    spec, choice = FAMILIES[family], ("logic", 0)     # no bit lanes left: removed, as logic
    best = int(memory.stored_width * memory.depth * spec["ram_bit" if memory.writes else "rom_bit"])
    for kind in spec["kinds"] if memory.stored_width else ():
        if (kind.blocks and memory.async_read) or (not kind.blocks and not memory.writes):
            continue            # block RAMs read synchronously; LUT RAM holds no ROM
        cost, instances = kind_cost(kind, memory)
        if cost < best:
            best, choice = cost, (kind.name, instances * kind.blocks)
    return choice


def event_word_parts(family: str, width: int, depth: int) -> tuple[int, ...]:
    """How a spike buffer of `depth` events of `width` bits takes the fewest block RAMs of
    `family`: whole, or split at one bit into two memories (`hdl.events.EventBuffer`'s
    `parts`), as `memory_blocks` prices them. Block RAM widths go in nines on the XC7 and
    the ECP5 (9, 18, 36 with parity) and in powers of two on the iCE40, so a 12-bit word
    over 44,928 events takes 16.5 RAMB36 whole and 15.5 as 3 + 9 bits. Only splits whose
    parts both stay in block RAM: this packs block RAM, it does not trade it for LUTs."""
    def blocks(part: int) -> float:
        return memory_blocks(DesignMemory("events", part, depth, writes=1), family)[1]

    best, parts = blocks(width), (width,)
    for low in range(1, width):
        low_blocks, high_blocks = blocks(low), blocks(width - low)
        if low_blocks and high_blocks and low_blocks + high_blocks < best:
            best, parts = low_blocks + high_blocks, (low, width - low)
    return parts


# `SnnTop`'s event_parts for a board of each family (boards.fit.fit_memories builds with it)
EVENT_PARTS = {family: functools.partial(event_word_parts, family) for family in FAMILIES}


def check_fit(top, board_name: str, lanes: int | None = None, label: str | None = None) -> dict:
    """{"block_ram": {needed, available, unit, per_memory}} for `board_name`, or `DoesNotFit`."""
    board = BOARDS[board_name]
    per_memory = []
    for memory in design_memories(top):
        kind, blocks = memory_blocks(memory, board["family"])
        per_memory.append({"name": memory.name, "width": memory.width, "depth": memory.depth,
                           "stored_width": memory.stored_width, "rom": not memory.writes,
                           "mapped_to": kind, "blocks": blocks})
    needed = sum(m["blocks"] for m in per_memory)
    needed = int(needed) if needed == int(needed) else needed
    # packing: the bits the block-RAM memories hold against the bits of the blocks they take
    stored = sum(m["stored_width"] * m["depth"] for m in per_memory if m["blocks"])
    taken = int(needed * board["block_bits"])
    estimate = {"needed": needed, "available": board["available"], "unit": board["unit"],
                "memory_bits_in_block_ram": stored, "block_ram_bits_taken": taken,
                "packing_efficiency_percent": round(100 * stored / taken, 1) if taken else None,
                "method": "memory_libmap cost model, before synthesis (an upper estimate)",
                "per_memory": per_memory}
    layout = getattr(top, "spram_layout", None)
    if layout is not None:
        estimate["spram"] = {"needed": layout.sprams, "available": board["sprams"],
                             "layers": [t.name.rsplit("_", 1)[0] for t in layout.tables],
                             "bits": sum(t.width * t.depth for t in layout.tables)}
    if hasattr(top, "__dict__"):          # kept for the board build that follows
        top.__dict__.setdefault("fit_estimates", {})[board_name] = estimate
    if needed > board["available"]:
        network = getattr(top, "network", None)
        label = label or ("the design" if network is None else f"the network ({network.coding}"
                          + ("" if lanes is None else f", lanes {lanes}") + ")")
        largest = sorted((m for m in per_memory if m["blocks"]), key=lambda m: -m["blocks"])
        named = ", ".join(f"{m['name']} {m['width']}x{m['depth']} ({m['blocks']:g} "
                          f"{board['unit'].split()[0]})" for m in largest[:4])
        raise DoesNotFit(
            f"{label} needs {needed:g} of {board['available']} {board['device']}: "
            f"largest memories: {named}" + (f"; {board['note']}" if board["note"] else ""),
            estimate)
    return {"block_ram": estimate}


def memory_steps(board: dict, memory: str) -> list[dict]:
    """The memory plans to try, in order (`hdl.network.SnnTop`'s options): "fast" keeps two
    input banks and a state RAM per layer; "lean" takes one input bank and one state RAM
    for all layers; "auto" starts from the board's plan (lean on the UP5K, whose block RAMs
    are small and few and whose UART delivers images far slower than the layers run),
    else fast, then lean a step at a time while the design does not fit."""
    if memory not in MEMORY_PLANS:
        raise ValueError(f"memory: {memory!r} is none of {', '.join(MEMORY_PLANS)}")
    if memory == "fast":
        return [FAST]
    if memory == "lean" or board["lean_memory"]:
        return [LEAN]
    return [FAST, ONE_BANK, LEAN]


def describe_plan(spram_layers, plan: dict, top, board: dict) -> str:
    where = (f"with the weights of {', '.join(spram_layers)} in its SPRAMs, "
             f"{top.spram_layout.sprams} of {board['sprams']}" if spram_layers else
             "with every weight in block RAM")
    return f"{where}, {' and '.join(plan_words(**plan))}"


def plan_words(input_banks: int, shared_state: bool) -> tuple[str, str]:
    """A memory plan as a person reads it: (input banks, state RAMs)."""
    return ("two input banks" if input_banks == 2 else "one input bank",
            "one state RAM for all layers" if shared_state else "a state RAM per layer")


def fit_memories(top, make_top, board_name: str, weights_in: str = "auto",
                 memory: str = "auto", label: str | None = None):
    """The top `make_top(spram_layers, **plan)` makes (`plan`: `SnnTop`'s input_banks,
    shared_state and event_parts) so that the design fits the board's block RAM (`top`,
    built with the FAST plan and weights in block RAM, names the lanes; it is replaced):
    the memory plans of `memory_steps` in turn, then (`weights_in`): "block-ram" keeps the
    weight tables there; "spram" puts every layer's in the UP5K's SPRAMs; "auto" moves the
    largest ones there, one layer at a time, until it fits. DoesNotFit (with the figures)
    when nothing fits."""
    board = BOARDS[board_name]
    if weights_in not in WEIGHTS_IN:
        raise ValueError(f"weights_in: {weights_in!r} is none of {', '.join(WEIGHTS_IN)}")
    if weights_in != "block-ram" and not board["sprams"]:
        if weights_in == "spram":
            raise DoesNotFit(f"--weights-in spram: the {board_name} has no SPRAM (the "
                             "iCEBreaker's UP5K has)")
        weights_in = "block-ram"
    names = [engine.name for engine in top.engines]
    by_size = [e.name for e in sorted(
        top.engines, key=lambda e: -e.weight_rom.width * len(e.weight_rom.words))]
    placements = {"block-ram": [()], "spram": [tuple(names)],
                  "auto": [tuple(by_size[:n]) for n in range(len(names) + 1)]}[weights_in]
    steps = memory_steps(board, memory)
    tries = ([(placements[0], plan) for plan in steps]
             + [(layers, steps[-1]) for layers in placements[1:]])
    # the spike buffers' words split as the board's block RAMs take them best
    parts = EVENT_PARTS[board["family"]]
    for unused in [top, *top.engines]:       # replaced, never elaborated: no warning
        unused._MustUse__silence = True
    first = None
    for layers, plan in tries:
        top = _spram_top(make_top, layers, {**plan, "event_parts": parts}, label, first)
        try:
            check_fit(top, board_name, label=label)
            return top
        except DoesNotFit as error:
            if first is None:
                first, as_built = error, top.fit_estimates[board_name]["needed"]
                first_plan = describe_plan(layers, plan, top, board)
            last = error
    if len(tries) == 1:
        raise last
    raise DoesNotFit(f"{last} (that is {describe_plan(*tries[-1], top, board)}; "
                     f"{first_plan} it needs {as_built:g})", last.estimate) from None


def _spram_top(make_top, layers, plan, label, first=None):
    try:
        return make_top(tuple(layers), **plan)
    except SpramFull as error:
        raise DoesNotFit(("" if first is None else f"{first}. ")
                         + f"{label or 'the design'}: {error}",
                         None if first is None else first.estimate) from None


def capacity_bits(board_name: str) -> int:
    """The bits a board's block RAMs hold, its SPRAMs' included (`BOARDS`)."""
    board = BOARDS[board_name]
    return board["available"] * board["block_bits"] + board["sprams"] * SPRAM_BITS
