import numpy as np
import pytest

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
def make_network(float_layers, calibration, split):
    """make_network(coding, **params): the bundled network converted (cached per params)."""
    from golden.codings import convert_network, get_coding
    cache = {}

    def make(coding, **params):
        key = (coding, get_coding(coding).params(**params))
        if key not in cache:
            cache[key] = convert_network(coding, float_layers, calibration, split, key[1])[0]
        return cache[key]
    return make


@pytest.fixture(scope="session")
def phase_network(make_network):
    return make_network("phase")


@pytest.fixture(scope="session")
def make_phase_network(make_network):
    return lambda **params: make_network("phase", **params)


@pytest.fixture(scope="session")
def make_radix_network(make_network):
    return lambda **params: make_network("radix", **params)


@pytest.fixture(scope="session")
def make_deferred_network(make_network):
    return lambda **params: make_network("deferred", **params)


@pytest.fixture(scope="session")
def make_rate_network(make_network):
    return lambda **params: make_network("rate", **params)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def make_tsc_network(make_network):
    return lambda **params: make_network("tsc", **params)
