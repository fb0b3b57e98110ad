"""Registry: a coding name → its golden module and its RTL core module.

Adding a coding means adding `golden/codings/<name>.py`, `hdl/cores/<name>.py` and one
line here. A golden module provides `<Name>Params`, `convert(layers, calibration, params)`,
a network with `simulate(pixels)` and `describe()`, `network_to_json`/`network_from_json`,
and optionally `finetune(layers, calibration, split, params)` (its ANN side, run before
`convert`) and `quantised_ann(network, pixels)` (an ANN the SNN must equal exactly), and
`ACCURACY_BOUND`, the points its SNN may lose against the float ANN (what the bundled
networks meet), with `ACCURACY_HINT`, what usually wins them back when a network loses
more, and `accuracy_candidates(params, network)`, those as settings (option dicts such as
{"T": 24}) from the ones in use on, a few at most: a build outside the bound converts
with each and names those that measurably help (`flows.advice.accuracy_trials`). A coding
that fine-tunes provides `fine_tuning(params)`, the one line why (None where these
parameters do not fine-tune), and optionally `fine_tuned_ann(network, layers, pixels)`,
the classes of the fine-tuned ANN (a build reports both accuracies:
`flows.report.fine_tuning_check`). Optionally `LARGE_INPUT_DEFAULTS`, the parameters a
model of 784 or more values per image (bundled or a user's; measured on 28x28 networks)
takes instead of the dataclass defaults (`input_size_defaults`). The core module provides
the per-lane datapath used by the layer engine (`hdl/cores/`).
"""
from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class Coding:
    name: str
    golden_module: str
    core_module: str
    params_class: str

    @property
    def golden(self):
        return import_module(self.golden_module)

    @property
    def core(self):
        return import_module(self.core_module)

    @property
    def params(self):
        return getattr(self.golden, self.params_class)


REGISTRY: dict[str, Coding] = {
    "phase": Coding("phase", "golden.codings.phase", "hdl.cores.phase", "PhaseParams"),
    "radix": Coding("radix", "golden.codings.radix", "hdl.cores.radix", "RadixParams"),
    "rate": Coding("rate", "golden.codings.rate", "hdl.cores.rate", "RateParams"),
    "tsc": Coding("tsc", "golden.codings.tsc", "hdl.cores.tsc", "TscParams"),
    "deferred": Coding("deferred", "golden.codings.deferred", "hdl.cores.deferred",
                       "DeferredParams"),
}


def get_coding(name: str) -> Coding:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown coding {name!r}; available: {', '.join(REGISTRY)}") from None


def convert_network(coding_name: str, layers, calibration, split, params):
    """Folded float layers → (the coding's integer network, the float layers it converted):
    runs the coding's own ANN side (`finetune`) first where it has one."""
    golden = get_coding(coding_name).golden
    if hasattr(golden, "finetune"):
        layers = golden.finetune(layers, calibration, split, params)
    return golden.convert(layers, calibration, params), layers


# Inputs per image (a 28x28 image) from which a model takes its coding's
# LARGE_INPUT_DEFAULTS: the dataclass defaults were chosen on the 8x8 digits networks, and
# on MNIST-size networks rate and tsc lose more than their bound with them
# (bench.mnist_defaults measures the larger defaults on networks they were not chosen on).
LARGE_INPUT = 784


def input_size_defaults(coding_name: str, inputs: int | None) -> dict:
    """The parameters a model of `inputs` values per image takes instead of the coding's
    dataclass defaults: its `LARGE_INPUT_DEFAULTS` from LARGE_INPUT on, else none."""
    if inputs is None or inputs < LARGE_INPUT:
        return {}
    return dict(getattr(get_coding(coding_name).golden, "LARGE_INPUT_DEFAULTS", {}))
