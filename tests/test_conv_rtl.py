"""The convolution engine (hdl/conv_layer.py) against golden: random geometries in every
coding (Amaranth simulation: classes, cycles, every spike; Verilator: classes and cycles),
and the bundled digits CNN on Verilator."""
import numpy as np
import pytest
import torch
from torch import nn

from golden.codings import convert_network, get_coding
from golden.convert import calibrate, fold_network
from golden.data import pixels_to_input
from golden.network import load_bundled
from hdl.export import snn_top_verilog
from sim.runner import lint

from .rtl_helpers import amaranth_vs_golden, rtl_vs_golden
from .test_conv import randomise_batch_norm

SMALL = {"phase": {"T": 5, "wait": 2}, "radix": {"T": 3}, "deferred": {"T": 3},
         "rate": {"T": 5}, "tsc": {"T": 5}}
INPUT_SHAPES = [(1, 8, 8), (4, 4, 4), (2, 8, 4)]   # 64 pixels, seen as C x H x W


def random_conv(rng, shape):
    """A Conv2d the shape admits, with random channels, kernel, stride and padding."""
    c, h, w = shape
    while True:
        kernel = tuple(int(k) for k in rng.integers(1, 5, 2))
        stride = tuple(int(s) for s in rng.integers(1, 3, 2))
        padding = tuple(int(rng.integers(0, min(k, 3))) for k in kernel)
        out = ((h + 2 * padding[0] - kernel[0]) // stride[0] + 1,
               (w + 2 * padding[1] - kernel[1]) // stride[1] + 1)
        if kernel[0] <= h + 2 * padding[0] and kernel[1] <= w + 2 * padding[1] and min(out) >= 1:
            channels = int(rng.integers(2, 7))
            return nn.Conv2d(c, channels, kernel, stride, padding), (channels, *out)


def random_cnn(seed: int) -> nn.Sequential:
    """Two random convolutions (average pooling between them when the map tiles), dense out."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    shape = INPUT_SHAPES[seed % len(INPUT_SHAPES)]
    modules = [nn.Unflatten(1, shape)]
    for index in range(2):
        conv, shape = random_conv(rng, shape)
        modules += [conv, nn.BatchNorm2d(shape[0]), nn.ReLU()]
        if index == 0 and shape[1] % 2 == 0 and shape[2] % 2 == 0 and rng.random() < 0.5:
            modules.append(nn.AvgPool2d(2))
            shape = (shape[0], shape[1] // 2, shape[2] // 2)
    modules += [nn.Flatten(), nn.Linear(int(np.prod(shape)), 10)]
    return randomise_batch_norm(nn.Sequential(*modules), seed)


def convert_random(coding: str, seed: int, split):
    layers = fold_network(random_cnn(seed))
    calibration = calibrate(layers, pixels_to_input(split.train_pixels))
    network = get_coding(coding).golden.convert(layers, calibration,
                                                get_coding(coding).params(**SMALL[coding]))
    assert [getattr(l, "conv", None) is not None for l in network.layers] == [True, True, False]
    return network


def assert_active(network, images):
    """Both convolution layers spike on the stimuli, so the comparison is not vacuous."""
    result = network.simulate(images)
    assert all(counts.output_spikes.sum() > 0 for counts in result.layers[:2])


CODINGS = sorted(SMALL)
CI_SEEDS = {"phase": 1, "radix": 2, "rate": 3, "tsc": 4, "deferred": 5}   # 5: pooling folded


@pytest.mark.parametrize("coding", CODINGS)
def test_random_convolutions_equal_golden_in_amaranth_sim(coding, split):
    seed = CI_SEEDS[coding]
    network = convert_random(coding, seed, split)
    assert_active(network, split.test_pixels[:2])
    amaranth_vs_golden(network, split.test_pixels[:2], lanes=1 + seed % 3)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [5, 6, 7, 9, 10, 11, 12, 14])
@pytest.mark.parametrize("coding", CODINGS)
def test_more_random_convolutions_in_amaranth_sim(coding, seed, split):
    network = convert_random(coding, seed, split)
    assert_active(network, split.test_pixels[:2])
    amaranth_vs_golden(network, split.test_pixels[:2], lanes=1 + seed % 4)


@pytest.mark.slow
@pytest.mark.parametrize("coding", CODINGS)
def test_random_convolutions_on_verilator(coding, split, tmp_path):
    for seed in range(5, 8):
        network = convert_random(coding, seed, split)
        assert_active(network, split.test_pixels[:20])
        rtl_vs_golden(network, split.test_pixels[:20], 2 + seed % 3, tmp_path / str(seed))


@pytest.fixture(scope="module")
def make_cnn(split):
    layers = fold_network(load_bundled("digits-cnn"))
    calibration = calibrate(layers, pixels_to_input(split.train_pixels))
    cache = {}

    def make(coding):
        if coding not in cache:
            params = get_coding(coding).params()
            cache[coding] = convert_network(coding, layers, calibration, split, params)[0]
        return cache[coding]
    return make


@pytest.mark.parametrize("coding", CODINGS)
def test_bundled_cnn_equals_golden_on_verilator(coding, make_cnn, split, tmp_path):
    rtl_vs_golden(make_cnn(coding), split.test_pixels[:10], 4, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("coding", CODINGS)
def test_bundled_cnn_whole_test_split_on_verilator(coding, make_cnn, split, tmp_path):
    rtl_vs_golden(make_cnn(coding), split.test_pixels, 4, tmp_path)


@pytest.mark.parametrize("lanes", [1, 3, 32])
def test_cnn_verilog_lints_clean(make_cnn, lanes, tmp_path):
    source = tmp_path / "snn_top.v"
    source.write_text(snn_top_verilog(make_cnn("tsc"), lanes)[0])
    lint(source, "snn_top")
