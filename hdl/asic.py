"""snn_top for ASIC flows: every memory a module of its own, contents in `$readmemh` files.

The design is elaborated as usual; each memory Amaranth would have inlined (weight and
threshold ROMs, neuron state, event buffers, input store, pooling state) becomes an
instance of a named module, `snn_mem_<hierarchy>`, with a plain port list

    clk                                       the memory's clock
    r<i>_addr, r<i>_en, r<i>_data             read port i: data registered on clk when en
    w_addr, w_en, w_data                      the write port (RAMs only)

and a behavioural body in `memories.v` that an ASIC engineer swaps for an SRAM macro or a
DFFRAM. `memories.json` lists each one (depth, width, ports, read-during-write rule,
contents file). The RTL is verified with these bodies (`tb_snn_top.v`): a RAM starts at
zero, as Amaranth's memories do, or with arbitrary words (`+random_ram`), as an SRAM macro
powers up, and a read port marked `write_first` returns the word being written at its
address in that cycle.
"""
import re
from dataclasses import dataclass, field

from amaranth.back import verilog
from amaranth.hdl import ClockSignal, Instance
from amaranth.hdl._ast import Shape, Value, ValueCastable
from amaranth.hdl._ir import Fragment, PortDirection
from amaranth.hdl._mem import MemoryInstance
from amaranth.lib import wiring

from .export import relative_sources

MODULE_PREFIX = "snn_mem_"


class AsicExportError(RuntimeError):
    """A memory the ASIC export cannot express as a plain module (names the memory)."""


@dataclass
class MemoryMacro:
    """One memory of the design as a module of its own."""
    module: str                  # Verilog module name
    path: str                    # hierarchy inside snn_top (layer1.weights)
    depth: int
    width: int
    address_bits: int
    read_ports: list = field(default_factory=list)     # "write_first" or "read_first"
    writable: bool = False
    init: list[int] = field(default_factory=list)       # words, unsigned

    @property
    def kind(self) -> str:
        return "ram" if self.writable else "rom"

    @property
    def contents_file(self) -> str | None:
        return f"roms/{self.module}.hex" if not self.writable else None

    def hex_lines(self) -> str:
        digits = max(1, (self.width + 3) // 4)
        return "".join(f"{word:0{digits}x}\n" for word in self.init)

    def describe(self) -> dict:
        return {"name": self.module, "path": self.path, "kind": self.kind,
                "depth": self.depth, "width": self.width, "address_bits": self.address_bits,
                "bits": self.depth * self.width,
                "ports": [{"name": f"r{i}", "direction": "read", "clock": "clk",
                           "latency_cycles": 1, "read_during_write": rule}
                          for i, rule in enumerate(self.read_ports)]
                + ([{"name": "w", "direction": "write", "clock": "clk"}]
                   if self.writable else []),
                "contents": self.contents_file if not self.writable else
                "none needed: every word is written before it is read (the testbench's "
                "+random_ram starts RAMs and read registers with arbitrary words)"}


def _words(data) -> list[int]:
    width = Shape.cast(data.shape).width
    return [value & ((1 << width) - 1) for value in data.init._raw]


def _macro(memory: MemoryInstance, path: list[str]) -> MemoryMacro:
    data = memory._data
    name = ".".join(path)
    width = Shape.cast(data.shape).width
    if len(memory._write_ports) > 1:
        raise AsicExportError(f"memory {name}: {len(memory._write_ports)} write ports; the "
                              "ASIC export takes one")
    for port in memory._write_ports:
        if len(port._en) != 1:
            raise AsicExportError(f"memory {name}: a write port with byte enables; the "
                                  "ASIC export takes one enable per word")
    for port in memory._read_ports:
        if port._domain == "comb":
            raise AsicExportError(f"memory {name}: an asynchronous read port; the ASIC "
                                  "export takes registered reads")
    module = MODULE_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", "_".join(path))
    return MemoryMacro(module=module, path=name, depth=data.depth, width=width,
                       address_bits=max(1, (data.depth - 1).bit_length()),
                       read_ports=["write_first" if port._transparent_for else "read_first"
                                   for port in memory._read_ports],
                       writable=bool(memory._write_ports), init=_words(data))


def _instance(memory: MemoryInstance, macro: MemoryMacro) -> Instance:
    domains = {port._domain for port in [*memory._read_ports, *memory._write_ports]}
    if len(domains) != 1:
        raise AsicExportError(f"memory {macro.path}: ports in clock domains {sorted(domains)}; "
                              "the ASIC export takes one clock per memory")
    ports = {"i_clk": ClockSignal(domains.pop())}
    for index, port in enumerate(memory._read_ports):
        ports.update({f"i_r{index}_addr": port._addr, f"i_r{index}_en": port._en,
                      f"o_r{index}_data": port._data})
    for port in memory._write_ports:
        ports.update({"i_w_addr": port._addr, "i_w_en": port._en, "i_w_data": port._data})
    return Instance(macro.module, **ports)


def _separate(fragment: Fragment, path: list[str], macros: list[MemoryMacro]) -> None:
    for index, (sub, name, src_loc) in enumerate(fragment.subfragments):
        sub_path = [*path, str(name if name is not None else f"u{index}")]
        if isinstance(sub, MemoryInstance):
            macro = _macro(sub, sub_path)
            if any(other.module == macro.module for other in macros):
                raise AsicExportError(f"two memories would be named {macro.module}")
            macros.append(macro)
            fragment.subfragments[index] = (_instance(sub, macro), name, src_loc)
        else:
            _separate(sub, sub_path, macros)


def _ports(top: wiring.Component) -> dict:
    """The top's ports as `verilog.convert` derives them from a component's signature."""
    ports = {}
    for path, member, value in top.signature.flatten(top):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        if isinstance(value, Value):
            direction = PortDirection.Input if member.flow == wiring.In else PortDirection.Output
            ports["__".join(map(str, path))] = (value, direction)
    return ports


def asic_verilog(top, name: str = "snn_top") -> tuple[str, list[MemoryMacro]]:
    """Verilog of `top` with every memory an instance of its own module, and the memories."""
    fragment = Fragment.get(top, None)
    macros: list[MemoryMacro] = []
    _separate(fragment, [], macros)
    text = verilog.convert(fragment, name=name, ports=_ports(top))
    return relative_sources(text), macros


def memory_verilog(macro: MemoryMacro, inline: bool = False, body: bool = True) -> str:
    """The behavioural body of one memory (Verilog-2005): registered reads, one write port;
    a ROM's words from its `$readmemh` file (or inline). `body=False`: the port list only
    (a black box for synthesis figures without the memories)."""
    top = macro.width - 1
    address = macro.address_bits - 1
    lines = [f"// {macro.path}: {macro.kind}, {macro.depth} x {macro.width} bits",
             f"module {macro.module} (", "    input clk,"]
    ports = []
    for index in range(len(macro.read_ports)):
        ports += [f"    input [{address}:0] r{index}_addr", f"    input r{index}_en",
                  f"    output reg [{top}:0] r{index}_data"]
    if macro.writable:
        ports += [f"    input [{address}:0] w_addr", "    input w_en",
                  f"    input [{top}:0] w_data"]
    lines += [",\n".join(ports), ");"]
    if not body:
        return "\n".join(["(* blackbox *)", *lines, "endmodule\n"])
    lines.append(f"    reg [{top}:0] mem [0:{macro.depth - 1}];")
    lines += ["    integer i;", "    initial begin"]
    # +random_ram (a plusarg): arbitrary start contents and read registers, as an SRAM
    # macro powers up; the design must not depend on them
    random = "{" + ", ".join(["$random"] * ((macro.width + 31) // 32)) + "}"
    if macro.writable:
        lines += ["        for (i = 0; i < " f"{macro.depth}; i = i + 1)",
                  f'            mem[i] = $test$plusargs("random_ram") ? {random} : '
                  f"{macro.width}'d0;"]
    elif inline:
        digits = max(1, (macro.width + 3) // 4)
        lines += [f"        mem[{i}] = {macro.width}'h{word:0{digits}x};"
                  for i, word in enumerate(macro.init)]
    else:
        lines.append(f'        $readmemh("{macro.contents_file}", mem);')
    lines += [f'        r{index}_data = $test$plusargs("random_ram") ? {random} : {macro.width}\'d0;'
              for index in range(len(macro.read_ports))]
    lines.append("    end")
    if macro.writable:
        lines += ["    always @(posedge clk)", "        if (w_en) mem[w_addr] <= w_data;"]
    for index, rule in enumerate(macro.read_ports):
        lines += ["    always @(posedge clk)", f"        if (r{index}_en)"]
        if rule == "write_first":
            lines.append(f"            r{index}_data <= (w_en && w_addr == r{index}_addr) ? "
                         f"w_data : mem[r{index}_addr];")
        else:
            lines.append(f"            r{index}_data <= mem[r{index}_addr];")
    lines.append("endmodule\n")
    return "\n".join(lines)
