"""Convert a network, simulate it, generate the RTL, build for a board.

    python -m flows.build --coding phase --Q 1.25 --board arty

    python -m flows.build --network digits-cnn --coding radix --board arty

    python -m flows.build --model my.onnx --data my.npz --coding rate --board arty

    python -m flows.build --coding tsc --board asic --clock-mhz 250

Writes into the build directory (default build/<coding>-<board>):
    snn_top.v          Verilog of snn_top (ROM contents inlined as memory initialisers)
    roms/*.hex         the same ROM words as $readmemh files, for flows that load memories
    spram_weights.bin  iCEBreaker builds with weights in SPRAM: the image flows.board loads
    network.json       the integer network (input of python -m flows.simulate)
    <board>/           board build: Vivado plan + Yosys estimate, or iCE40 bitstream
    report.json        parameters, accuracies, spikes, operations, cycles, resources
With --golden-only: network.json and report.json (no Verilog, no cycles).
"""
import argparse
import dataclasses
import inspect
import re
import sys
from pathlib import Path

from boards import TARGETS
from golden.codings import LARGE_INPUT, REGISTRY, get_coding, input_size_defaults
from golden.network import DEFAULT_NETWORK, NETWORK_DEFAULTS, network_names

from .common import FlowError, Progress, run_flow
from .design import convert
from .outputs import check_output_path


def base_q(text: str):
    """--Q: a number or auto."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, not {text!r}") from None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m flows.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--coding", default="phase", choices=sorted(REGISTRY),
                        help="spike coding (default: phase)")
    parser.add_argument("--network", choices=network_names(),
                        help=f"bundled network (default: {DEFAULT_NETWORK}); {own_defaults()}")
    add_model_options(parser)
    parser.add_argument("--golden-only", action="store_true",
                        help="convert and simulate in the golden model only: network.json and "
                             "report.json, no Verilog (for layers the RTL cannot run, such as "
                             "overlapping max pooling, or a quick accuracy figure)")
    parser.add_argument("--T", type=int, help="phases / bits per activation / time steps N "
                                              "(default: phase 16, radix 6, deferred 4, "
                                              "rate 16, tsc 8)")
    parser.add_argument("--Q", type=base_q, metavar="{Q,auto}",
                        help="phase: base of hidden layers, 1 < Q <= 2, or auto: the base of "
                             "1.05, 1.10, .., 2.0 with the smallest One-Spike Eq. 5 error at T "
                             "(default 1.25)")
    parser.add_argument("--wait", type=int, help="phase: wait phases w (default 8)")
    parser.add_argument("--norm", choices=["robust", "max", "rnl"],
                        help="rate: thresholds from Robust Norm (99.9 %%, default), Max Norm, "
                             "or a network trained with Rate Norm Layers")
    parser.add_argument("--alpha", type=float,
                        help="tsc: threshold scale, θ = α·V_in^max, 0 < α <= 1 (default: "
                             "the α of 0.15, 0.20 .. 1.0 whose SNN best agrees with the ANN on "
                             "the calibration images)")
    parser.add_argument("--runs", type=int,
                        help="tsc: on-runs per neuron at most, each a +1/-1 spike pair (default "
                             "3; 0 = no cap, the frame-subtracted soft-reset IF neuron; 1 = the "
                             "paper's text, at most two spikes)")
    parser.add_argument("--weight-bits", type=int, help="signed weight width (default 8)")
    parser.add_argument("--lanes", type=lanes_option, metavar="{L,L1,L2,..,auto}",
                        help="neurons updated in parallel: one count for every layer, one per "
                             "layer, comma-separated, or auto (the default count times the "
                             "layers, spread to balance the layers' cycles) (default: 4; 1 on "
                             "icebreaker)")
    parser.add_argument("--board", default="none", choices=sorted(TARGETS),
                        help="board target (default: none = Verilog and ROM files only)")
    parser.add_argument("--no-timing-proxy", dest="timing_proxy", action="store_false",
                        help="arty: skip the ECP5 place-and-route that stands in for Vivado's "
                             "timing (then the design clock is the board's 100 MHz, unchecked)")
    parser.add_argument("--weights-in", choices=["auto", "block-ram", "spram"], default="auto",
                        help="icebreaker: where the weight tables live; auto (default): in "
                             "block RAM if the design fits, else the largest go to the UP5K's "
                             "SPRAMs, which python -m flows.board loads over the UART after "
                             "programming; spram: every layer's")
    parser.add_argument("--memory", choices=["auto", "fast", "lean"], default="auto",
                        help="memory plan: fast = two input banks (the next image loads while "
                             "the layers run) and a state RAM per layer; lean = one input bank "
                             "and one state RAM for all layers (fewer block RAMs, no load "
                             "overlap); auto (default): lean on the icebreaker, else fast, "
                             "and lean when the design does not fit the board")
    parser.add_argument("--no-hint-trials", dest="hint_trials", action="store_false",
                        help="name advice untried: by default an SNN outside its coding's "
                             "accuracy bound is converted and simulated again with each "
                             "setting that may win the points back, and a design that does "
                             "not fit the board is estimated with fewer lanes, the lean plan "
                             "and narrower weights, and only what helps is named")
    parser.add_argument("--clock-mhz", type=float,
                        help="asic: the clock constraint of snn_top.sdc in MHz (default 100)")
    parser.add_argument("--inline-roms", action="store_true",
                        help="asic: ROM words inline in memories.v instead of $readmemh files")
    parser.add_argument("--out", type=Path, help="build directory (default: build/<coding>-<board>, "
                                                 "prefixed with the network or the model's "
                                                 "name unless it is digits-mlp)")
    add_params_options(parser)
    args = parser.parse_args(argv)
    args.network_given = args.network is not None
    args.network = args.network or DEFAULT_NETWORK
    return args


def lanes_option(text: str):
    """--lanes: one positive count, one per layer separated by commas, or auto."""
    if text == "auto":
        return text
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count, counts separated by commas, or "
                                         f"auto, not {text!r}") from None
    return values[0] if len(values) == 1 else values


def true_or_false(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def own_defaults() -> str:
    """The parameters a network's input size and the bundled networks set, as options."""
    def options(values: dict) -> str:
        return " ".join(f"--{key.replace('_', '-')} {value}" for key, value in values.items())
    large = [f"{coding} with {options(input_size_defaults(coding, LARGE_INPUT))}"
             for coding in REGISTRY if input_size_defaults(coding, LARGE_INPUT)]
    said = [f"{name} runs {coding} with {options(values)}"
            for name, codings in NETWORK_DEFAULTS.items() for coding, values in codings.items()]
    return (f"a network of {LARGE_INPUT} or more inputs per image (bundled or --model) runs "
            f"{', '.join(large)}; " + "; ".join(said) + " unless given otherwise")


def params_fields() -> dict:
    """Every field of every coding's parameter dataclass: name → (type, [(coding, default,
    comment)]). Fields marked `derived` in their metadata are set by the converter."""
    fields = {}
    for coding in REGISTRY:
        params = get_coding(coding).params
        comments = dict(re.findall(r"^\s+(\w+)\s*:[^=\n]*=[^#\n]*#\s*(.*)$",
                                   inspect.getsource(params), re.M))
        for field in dataclasses.fields(params):
            if field.metadata.get("derived"):
                continue
            kind = {int: int, float: float, bool: true_or_false, str: str}.get(
                field.type, float)
            fields.setdefault(field.name, (kind, []))[1].append(
                (coding, field.default, comments.get(field.name, "")))
    return fields


def add_params_options(parser) -> None:
    """The coding parameters without a hand-written option above, each as --field-name
    (its type from the dataclass annotation, its help from the field's comment)."""
    for name, (kind, uses) in params_fields().items():
        option = f"--{name.replace('_', '-')}"
        if option in parser._option_string_actions or f"--{name}" in \
                parser._option_string_actions:
            continue
        said = "; ".join(f"{coding}: {comment or name} (default {default})"
                         for coding, default, comment in uses)
        parser.add_argument(option, dest=name, type=kind, help=said)


def channel_values(text: str) -> tuple:
    """--input-mean / --input-std: one number or one per channel, comma-separated."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, not "
                                         f"{text!r}") from None


def add_model_options(parser) -> None:
    """--model, --data and the input contract (flows.build and flows.compare)."""
    parser.add_argument("--model", type=Path,
                        help="your network: an ONNX file (opset 13 or later; weights inline or "
                             "in an external-data file beside it)")
    parser.add_argument("--data", type=Path,
                        help="with --model: .npz with x_train, y_train (calibration and "
                             "fine-tuning), x_test, y_test (every accuracy); uint8 images "
                             "(n, H, W), (n, C, H, W) or (n, features), integer labels")
    parser.add_argument("--input-mean", type=channel_values, metavar="M[,M..]",
                        help="with --model: the model was trained on (pixel/255 - mean)/std, "
                             "as torchvision's Normalize (default mean 0)")
    parser.add_argument("--input-std", type=channel_values, metavar="S[,S..]",
                        help="with --model: see --input-mean (default std 1)")


def build(args) -> Path:
    """The flow: convert through the Python API (flows.design), then write the build."""
    if args.data is not None and args.model is None:
        raise FlowError("--data goes with --model (a bundled --network brings its own data)")
    if args.model is not None and args.network_given:
        raise FlowError("give --model or --network, not both")
    if not args.timing_proxy and args.board != "arty":
        raise FlowError(f"--no-timing-proxy is an option of --board arty, not --board {args.board}")
    board_options = {} if args.timing_proxy else {"timing_proxy": False}
    if args.clock_mhz is not None or args.inline_roms:
        if args.board != "asic":
            raise FlowError(f"--clock-mhz and --inline-roms are options of --board asic, not "
                            f"--board {args.board}")
        if args.clock_mhz is not None and not args.clock_mhz > 0:
            raise FlowError(f"--clock-mhz must be a positive frequency, not {args.clock_mhz:g}")
        board_options = {"inline_roms": args.inline_roms,
                         **({"clock_mhz": args.clock_mhz} if args.clock_mhz else {})}
    if args.out is not None:            # a folder that may not be replaced: said before any work
        check_output_path(args.out)
    progress = Progress(1 + (3 if args.golden_only else 4 if args.board == "none" else 5))
    progress.step(f"converting {args.model or args.network} to {args.coding} coding")
    design = convert(args.model if args.model is not None else args.network, args.data,
                     args.coding, input_mean=args.input_mean, input_std=args.input_std,
                     **{name: getattr(args, name) for name in params_fields()})
    return design.build(args.out, board=args.board, lanes=args.lanes,
                        golden_only=args.golden_only, progress=progress,
                        board_options=board_options, weights_in=args.weights_in,
                        memory=args.memory, hint_trials=args.hint_trials)


def main(argv=None) -> int:
    return run_flow(build, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
