import numpy as np
import pytest

from golden.codings.phase import PhaseParams, convert
from golden.convert import calibrate, fold_network
from golden.data import load_digits_split, pixels_to_input
from golden.network import load_bundled


@pytest.fixture(scope="session")
def split():
    return load_digits_split()


@pytest.fixture(scope="session")
def model():
    return load_bundled()


@pytest.fixture(scope="session")
def float_layers(model):
    return fold_network(model)


@pytest.fixture(scope="session")
def calibration(float_layers, split):
    return calibrate(float_layers, pixels_to_input(split.train_pixels))


@pytest.fixture(scope="session")
def phase_network(float_layers, calibration):
    return convert(float_layers, calibration, PhaseParams())


@pytest.fixture(scope="session")
def make_phase_network(float_layers, calibration):
    def make(**params):
        return convert(float_layers, calibration, PhaseParams(**params))
    return make


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def make_radix_network(float_layers, calibration, split):
    from golden.codings.radix import RadixParams, convert, finetune
    cache = {}

    def make(**params):
        p = RadixParams(**params)
        if p not in cache:
            cache[p] = convert(finetune(float_layers, calibration, split, p), calibration, p)
        return cache[p]
    return make


@pytest.fixture(scope="session")
def make_deferred_network(float_layers, calibration, split):
    from golden.codings.deferred import DeferredParams, convert, finetune
    cache = {}

    def make(**params):
        p = DeferredParams(**params)
        if p not in cache:
            cache[p] = convert(finetune(float_layers, calibration, split, p), calibration, p)
        return cache[p]
    return make


@pytest.fixture(scope="session")
def make_rate_network(float_layers, calibration, split):
    from golden.codings.rate import RateParams, convert, finetune
    cache = {}

    def make(**params):
        p = RateParams(**params)
        if p not in cache:
            layers = finetune(float_layers, calibration, split, p)
            cache[p] = (convert(layers, calibration, p), layers)
        return cache[p][0]
    return make
