"""Block-RAM fit check before synthesis (boards.fit): no tool runs here."""
import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib.memory import Memory

from boards import fit
from boards.fit import DesignMemory, DoesNotFit, check_fit, design_memories, memory_blocks
from boards.targets import TARGETS, StepError
from hdl.export import build_top


@pytest.mark.parametrize("width, depth, writes, family, expected", [
    (16, 256, 0, "ice40", ("EBR", 1)),
    (32, 784, 0, "ice40", ("EBR", 8)),       # 1024x4 slices: 32/4 = 8 blocks
    (8, 4096, 0, "ice40", ("EBR", 8)),
    (3, 4096, 0, "ice40", ("EBR", 3)),       # two 2048-word slices side by side in 6 bits
    (8, 64, 0, "ice40", ("logic", 0)),       # 512-bit ROM: LUTs are cheaper
    (31, 10, 1, "ice40", ("EBR", 2)),        # a 310-bit RAM: flip-flops cost more
    (4, 16, 1, "ice40", ("logic", 0)),       # a 64-bit RAM stays in flip-flops
    (32, 1024, 0, "xc7", ("RAMB36", 1)),
    (32, 512, 0, "xc7", ("RAMB18", 0.5)),    # 512x36 simple dual port
    (32, 96, 0, "xc7", ("logic", 0)),        # under ~8 kbit, ROMs go to LUTs on xc7
    (124, 16, 1, "xc7", ("LUTRAM", 0)),
    (7, 384, 1, "xc7", ("RAMB18", 0.5)),
])
def test_block_counts_follow_the_memory_libmap_rules(width, depth, writes, family, expected):
    memory = DesignMemory("m", width, depth, reads=1, writes=writes, transparent=writes)
    assert memory_blocks(memory, family) == expected


def test_every_read_port_needs_its_own_ebr_copy():
    memory = DesignMemory("m", 16, 256, reads=2)
    assert memory_blocks(memory, "ice40") == ("EBR", 2)
    assert memory_blocks(memory._replace(async_read=True), "ice40") == ("logic", 0)


class TwoMemories(Elaboratable):
    def elaborate(self, platform):
        m = Module()
        m.submodules.rom = rom = Memory(shape=16, depth=256, init=range(256))
        m.submodules.ram = ram = Memory(shape=5, depth=100, init=[])
        rom.read_port()
        ram.read_port(transparent_for=(ram.write_port(),))
        return m


def test_design_memories_walks_the_elaborated_design():
    rom, ram = design_memories(TwoMemories())
    # words 0..255 leave the top 8 of 16 bits constant: Yosys' opt_mem drops those lanes
    assert rom == DesignMemory("rom", 16, 256, 1, 0, 0, False, live_width=8)
    assert ram == DesignMemory("ram", 5, 100, 1, 1, 1, False, live_width=-1)
    assert (rom.stored_width, ram.stored_width) == (8, 5)
    assert memory_blocks(rom, "ice40") == ("EBR", 1)           # 2 kbit ROM
    assert memory_blocks(rom._replace(live_width=0), "ice40") == ("logic", 0)


def test_bundled_tsc_mlp_fits_the_icebreaker_as_measured(make_tsc_network):
    top = build_top(make_tsc_network(), 1)
    estimate = check_fit(top, "icebreaker", 1)["block_ram"]
    # nextpnr placed this design in 23 of the 30 EBRs (build/tsc-icebreaker, lanes 1)
    assert 23 <= estimate["needed"] <= 30 and estimate["available"] == 30
    assert estimate["unit"] == "EBR (4 kbit)"
    names = {m["name"]: m for m in estimate["per_memory"]}
    assert names["layer1.weights"]["blocks"] == 8 and names["layer1.bias"]["blocks"] == 0


def test_too_many_block_rams_is_a_clear_error_naming_the_figures(make_tsc_network,
                                                                monkeypatch):
    monkeypatch.setitem(fit.BOARDS, "icebreaker", {**fit.BOARDS["icebreaker"], "available": 1})
    with pytest.raises(DoesNotFit) as error:
        check_fit(build_top(make_tsc_network(), 1), "icebreaker", 1)
    message = str(error.value)
    assert "(tsc, lanes 1) needs 23 of 1 iCE40UP5K block RAMs" in message
    assert "layer1.weights 8x4096 (8 EBR)" in message
    # no settings named untried: flows.advice.fit_advice estimates them (tests/test_advice.py)
    assert "--weight-bits" not in message and "fewer lanes" not in message
    assert isinstance(error.value, StepError)      # exit status 1 in flows.common.run_flow


def test_wide_lanes_overflow_the_icebreaker(make_tsc_network):
    with pytest.raises(DoesNotFit, match=r"needs \d+ of 30 .*layer1\.state 124x16"):
        check_fit(build_top(make_tsc_network(), 4), "icebreaker", 4)


@pytest.mark.parametrize("board", ["icebreaker", "arty", "ulx3s"])
def test_board_build_stops_before_any_tool(board, make_tsc_network, monkeypatch, tmp_path):
    monkeypatch.setitem(fit.BOARDS, board, {**fit.BOARDS[board], "available": 0})
    with pytest.raises(DoesNotFit, match=r"needs [\d.]+ of 0 "):
        TARGETS[board].build(build_top(make_tsc_network(), 1), tmp_path, lambda text: None)
    assert not (tmp_path / board).exists()         # no build plan extracted, no tool run


def test_build_flow_refuses_with_exit_status_1_before_place_and_route(monkeypatch, tmp_path,
                                                                      capsys):
    from flows import build as build_flow
    monkeypatch.setitem(fit.BOARDS, "icebreaker", {**fit.BOARDS["icebreaker"], "available": 1})
    out = tmp_path / "mlp"
    assert build_flow.main(["--coding", "phase", "--board", "icebreaker", "--out", str(out)]) == 1
    error = capsys.readouterr().err
    # the UP5K's lean memory plan, then the weight tables to SPRAM (--weights-in auto): still
    # too many, said with both figures
    assert "error: digits-mlp (phase, lanes 1) needs 6 of 1 iCE40UP5K block RAMs" in error
    assert ("weights of layer1, layer2, layer3 in its SPRAMs, 1 of 4, one input bank and one "
            "state RAM for all layers; with every weight in block RAM, one input bank and one "
            "state RAM for all layers it needs 19)") in error
    # and where it does fit, estimated (flows.advice.fit_advice)
    assert "The network is too large for the icebreaker" in error
    assert "it fits the arty as it is (2 of 50 BRAM36)" in error      # at 1 lane
    # said before the golden simulation and before any directory is written
    assert "golden simulation" not in error
    assert not out.exists() and not out.with_name("mlp.incomplete").exists()


def test_packing_efficiency_counts_the_bits_of_the_blocks_taken():
    # the ROM keeps 8 live bits of 256 words in one EBR; the RAM 5 x 100 bits in another
    estimate = check_fit(TwoMemories(), "icebreaker")["block_ram"]
    assert estimate["needed"] == 2
    assert estimate["memory_bits_in_block_ram"] == 8 * 256 + 5 * 100
    assert estimate["block_ram_bits_taken"] == 2 * 4096
    assert estimate["packing_efficiency_percent"] == round(100 * 2548 / 8192, 1)


@pytest.mark.parametrize("coding", [
    "phase", pytest.param("radix", marks=pytest.mark.slow),
    pytest.param("tsc", marks=pytest.mark.slow),
    pytest.param("deferred", marks=pytest.mark.slow), "rate"])
def test_mnist_cnn_on_the_arty_with_compact_tables(coding):
    """The first convolution's receptive table (784 x 25 words) and the dense layer's
    pooled weight rows are compact (golden.geometry), and the spike buffers' words split
    as the XC7's block RAMs take them best, so mnist-cnn fits the Arty's 50 BRAM36 with
    one input bank in every coding (rate at its T = 13: the first layer's spike buffer,
    3,456 neurons x 13 events of 3 + 9 bits, takes 15.5)."""
    from flows.design import convert
    design = convert("mnist-cnn", coding=coding)
    top = design.fitted_top("arty")
    assert top.fit_estimates["arty"]["needed"] <= 50
    names = {m["name"]: m for m in top.fit_estimates["arty"]["per_memory"]}
    assert names["layer1.receptive"]["depth"] == 81 * 25
    if coding == "rate":
        assert [(names[f"layer1_spikes.events_{n}"]["width"],
                 names[f"layer1_spikes.events_{n}"]["blocks"]) for n in (0, 1)] == [
            (3, 4.5), (9, 11)]


@pytest.mark.parametrize("coding, needed", [
    ("phase", 31.5), pytest.param("radix", 36.5, marks=pytest.mark.slow),
    pytest.param("tsc", 43.5, marks=pytest.mark.slow),
    pytest.param("deferred", 34.5, marks=pytest.mark.slow)])
def test_mnist_resnet_fits_the_arty(coding, needed):
    """mnist-resnet on the Arty, 4 lanes: its merges' shortcut buffers included (one per
    block, x's spikes again: 12x12x8 and 6x6x8 neurons)."""
    from flows.design import convert
    design = convert("mnist-resnet", coding=coding)
    top = design.fitted_top("arty")
    assert top.fit_estimates["arty"]["needed"] == needed
    names = {m["name"].split(".")[0] for m in top.fit_estimates["arty"]["per_memory"]}
    assert {"layer3_shortcut_spikes", "layer5_shortcut_spikes"} <= names


@pytest.mark.slow
def test_mnist_resnet_rate_fits_the_ulx3s_not_the_arty():
    """rate on mnist-resnet at its T = 32 (golden.network.NETWORK_DEFAULTS): five spike
    buffers of up to 1,152 neurons x 32 events need 87 BRAM36, more than the Arty's 50;
    the ULX3S's ECP5-85F takes it."""
    from flows.design import convert
    design = convert("mnist-resnet", coding="rate")
    with pytest.raises(DoesNotFit, match="needs 87 of 50 XC7A35T block RAMs"):
        design.fitted_top("arty", advise=False)     # the figures (advice: test_advice.py)
    top = design.fitted_top("ulx3s")
    assert top.fit_estimates["ulx3s"]["needed"] <= 208


def test_a_design_that_does_not_fit_is_refused_with_its_largest_memories():
    """rate on mnist-cnn at T = 16 (the first layer's spike buffer: 3,456 neurons x 16
    events) needs more than the Arty's 50 BRAM36: said before any tool, with the figures."""
    from flows.design import convert
    design = convert("mnist-cnn", coding="rate", T=16)
    with pytest.raises(DoesNotFit) as error:
        design.fitted_top("arty", advise=False)     # the figures (advice: test_advice.py)
    assert "of 50 XC7A35T block RAMs" in str(error.value)
    assert "layer1_spikes.events_1 9x55296 (13.5 BRAM36)" in str(error.value)


@pytest.mark.parametrize("family, width, depth, parts", [
    ("xc7", 12, 44928, (3, 9)),      # 16.5 RAMB36 whole, 4.5 + 11 split
    ("ecp5", 10, 16384, (1, 9)),
    ("ice40", 12, 44928, (12,)),     # 4-bit EBR slices: no split saves a block
    ("ecp5", 5, 192, (5,)),          # a split would put both parts in LUTs: kept whole
])
def test_spike_buffer_words_split_where_block_rams_take_them_better(family, width, depth,
                                                                    parts):
    assert fit.event_word_parts(family, width, depth) == parts

    def blocks(part):
        return memory_blocks(DesignMemory("events", part, depth, writes=1), family)[1]
    whole = blocks(width)
    assert sum(map(blocks, parts)) < whole if len(parts) > 1 else whole > 0
