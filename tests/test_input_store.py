"""The input store (hdl/input_store.py): every input list of an image in one memory, the
next image loading while the layers run the current one (two banks), and the cycle model
of both: latency, load time and the back-to-back schedule."""
import numpy as np
import pytest

from boards.fit import check_fit, design_memories
from golden.cycles import inference_cycles, input_writes_per_pixel, stream_schedule
from hdl.export import build_top
from tests.rtl_helpers import amaranth_stream, amaranth_vs_golden


def assert_stream_equals_model(network, images, banks, lanes=4):
    golden = network.simulate(images)
    classes, handshakes = amaranth_stream(network, images, lanes, banks)
    np.testing.assert_array_equal(classes, golden.classes)
    np.testing.assert_array_equal(handshakes, stream_schedule(network, golden, lanes, banks))


@pytest.mark.parametrize("banks", [2, 1])
def test_back_to_back_images_follow_the_cycle_model(make_network, split, banks):
    """Images streamed with no gap (pixels always valid, results always ready): every
    class as golden and every result handshake in the cycle `stream_schedule` gives."""
    assert_stream_equals_model(make_network("tsc"), split.test_pixels[:3], banks)


@pytest.mark.slow
@pytest.mark.parametrize("coding", ["phase", "radix", "rate", "deferred"])
@pytest.mark.parametrize("banks", [2, 1])
def test_back_to_back_images_follow_the_cycle_model_every_coding(make_network, split,
                                                                 coding, banks):
    assert_stream_equals_model(make_network(coding), split.test_pixels[:4], banks)


@pytest.mark.slow
def test_back_to_back_max_pooling_cnn(split):
    from flows.common import coding_params, convert_bundled
    _, cnn_split, network = convert_bundled("rate", coding_params("rate", {}),
                                            network_name="digits-cnn-maxpool")
    assert_stream_equals_model(network, cnn_split.test_pixels[:3], 2)


def test_one_input_bank_runs_bit_exact(make_network, split):
    """One bank: the same spikes, classes and latency as two."""
    amaranth_vs_golden(make_network("phase"), split.test_pixels[:2], 2, input_banks=1)


def test_overlap_hides_the_load_and_one_bank_pays_it(make_network, split):
    network = make_network("phase")
    golden = network.simulate(split.test_pixels[:20])
    overlapped, serial = (inference_cycles(network, golden, 4, banks) for banks in (2, 1))
    writes = input_writes_per_pixel(network)
    assert writes == 8 and overlapped["load"] == serial["load"] == 8 * 64
    layers = overlapped["latency"] - writes - 2
    # the layers take longer than a load here: the period is theirs alone
    np.testing.assert_array_equal(overlapped["period"], layers + 3)
    np.testing.assert_array_equal(serial["period"], layers + 8 * 64 + 4)
    assert input_writes_per_pixel(make_network("tsc")) == 2


def test_one_memory_for_every_input_list(make_network):
    """The input lists share one memory (the bit planes took one block RAM each): two
    banks of 8 lists x 64 pixels in 2 iCE40 block RAMs, one bank in 1."""
    network = make_network("phase")
    for banks, blocks in ((2, 2), (1, 1)):
        estimate = check_fit(build_top(network, 1, input_banks=banks), "icebreaker")["block_ram"]
        memories = {m["name"]: m for m in estimate["per_memory"]}
        assert memories["input_store.lists"]["depth"] == banks * 8 * 64
        assert memories["input_store.lists"]["blocks"] == blocks
        assert not any(name.startswith("input_store.plane") for name in memories)


@pytest.mark.parametrize("coding", ["phase", "radix", "rate", "tsc", "deferred"])
def test_default_mlp_takes_at_most_20_of_the_icebreakers_30_block_rams(make_network, coding):
    """The UP5K's lean memory plan (one input bank, one state RAM for all layers), as
    `flows.build --board icebreaker` chooses it: at most 20 of the 30 EBRs, every coding."""
    from boards.fit import fit_memories
    network = make_network(coding)
    top = fit_memories(build_top(network, 1),
                       lambda *how, **plan: build_top(network, 1, *how, **plan), "icebreaker")
    assert (top.input_banks, top.shared_state, top.spram_layout) == (1, True, None)
    assert top.fit_estimates["icebreaker"]["needed"] <= 20


def test_the_layers_share_one_state_ram_bit_exact(make_network, split):
    """One state RAM for all layers (each in its own region): spikes, classes and cycles
    as golden, and one memory where there was one per layer."""
    network = make_network("tsc")
    amaranth_vs_golden(network, split.test_pixels[:2], 2, shared_state=True, input_banks=1)
    estimate = check_fit(build_top(network, 2, shared_state=True), "ulx3s")["block_ram"]
    names = [m["name"] for m in estimate["per_memory"]]
    assert "state_ram.memory" in names and not any(n.endswith(".state") for n in names)


def test_spike_buffer_words_over_two_memories_bit_exact(make_network, split):
    """A board's `event_parts` (boards.fit.event_word_parts) splits each spike buffer's
    words over two memories: spikes (their signs too: tsc), classes and cycles as golden."""
    def parts(width, depth):
        return (2, width - 2)
    network = make_network("tsc")
    amaranth_vs_golden(network, split.test_pixels[:2], 2, event_parts=parts)
    names = [m.name for m in design_memories(build_top(network, 2, event_parts=parts))]
    assert {"layer1_spikes.events_0", "layer1_spikes.events_1"} <= set(names)


@pytest.mark.slow
def test_spike_buffer_words_split_on_a_max_pooling_cnn():
    from flows.common import coding_params, convert_bundled
    _, cnn_split, network = convert_bundled("rate", coding_params("rate", {}),
                                            network_name="digits-cnn-maxpool")
    amaranth_vs_golden(network, cnn_split.test_pixels[:2], 4,
                       event_parts=lambda width, depth: (1, width - 1))


@pytest.mark.slow
def test_shared_state_ram_on_a_max_pooling_cnn():
    from flows.common import coding_params, convert_bundled
    _, cnn_split, network = convert_bundled("rate", coding_params("rate", {}),
                                            network_name="digits-cnn-maxpool")
    amaranth_vs_golden(network, cnn_split.test_pixels[:2], 4, shared_state=True)
