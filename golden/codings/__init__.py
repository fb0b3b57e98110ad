"""Registry: a coding name → its golden module and its RTL core module.

Adding a coding means adding `golden/codings/<name>.py`, `hdl/cores/<name>.py` and one
line here. A golden module provides `<Name>Params`, `convert(layers, calibration, params)`,
a network with `simulate(pixels)` and `describe()`, `network_to_json`/`network_from_json`,
and optionally `finetune(layers, calibration, split, params)` (its ANN side, run before
`convert`) and `quantised_ann(network, pixels)` (an ANN the SNN must equal exactly), and
`ACCURACY_BOUND`, the points its SNN may lose against the float ANN (what the bundled
networks meet), with `ACCURACY_HINT`, the parameters to try when a network loses more (a
build says so: `flows.report.accuracy_bound`). The core module provides the per-lane
datapath used by the layer engine (`hdl/cores/`).
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
