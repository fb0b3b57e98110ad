"""The Python API: a trained network and its data → a spiking design to query, simulate
and build. The command-line flows call it; one path, not two.

    from flows.design import convert
    design = convert("model.onnx", "data.npz", coding="phase", T=16)
    design.accuracy()                  # float ANN and golden SNN accuracy, percent
    design.predict(images)             # classes from the bit-exact golden model
    design.simulate_rtl(images[:20])   # snn_top on Verilator, checked against golden
    design.build("build/mine", board="arty")
    design.input_contract_warning      # None, or the --input-mean/--input-std that score
                                       # clearly higher (golden.contract; the build says so)

`model` is an ONNX file, any `torch.nn.Module` that torch.fx or torch.export can trace, or
the name of a bundled network; `data` an .npz with x_train, y_train, x_test, y_test (uint8
images), a `golden.data.Split`, or None for a bundled network's own data.
"""
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from torch import nn

from golden.codings import convert_network
from golden.contract import ContractCheck, check_contract, contract_record
from golden.convert import ConversionError, calibrate, fold_input_contract, fold_network
from golden.data import DataError, InputContract, Split, check_images, load_npz, \
    pixels_to_input
from golden.cycles import balanced_lanes
from golden.geometry import lanes_per_layer
from golden.network import DEFAULT_NETWORK, NETWORKS, ann_classes, bundled, load_bundled, \
    load_split

from .common import FlowError, Progress, coding_params, jsonable, save_network
from .outputs import check_output_path, claim_directory, interrupts_named, staged_directory
from .report import evaluate, rom_report


class Design:
    """A converted network: the coding's integer network (`network`), the float layers it
    was converted from (`layers`), the data (`split`), the float model's classifier, its
    input contract (`contract`, `contract_given_by`: the default, the options or the
    bundled network) and, for a user's model, the contract check (`golden.contract`)."""

    def __init__(self, name, coding, network, layers, split, float_classes, source,
                 contract: InputContract | None = None, contract_given_by: str = "",
                 contract_check: ContractCheck | None = None, *, params=None, folded=None,
                 conversion_seconds: float | None = None):
        self.name, self.coding, self.network, self.layers = name, coding, network, layers
        self.split, self.float_classes, self.source = split, float_classes, source
        self.contract, self.contract_given_by = contract, contract_given_by
        self.contract_check = contract_check
        # for converting again (flows.advice): the coding's parameters as given (phase's
        # Q perhaps "auto"), the folded float layers before any fine-tuning, and how long
        # the conversion took (calibration, fine-tuning, conversion)
        self.params = network.params if params is None else params
        self.folded, self.conversion_seconds = folded, conversion_seconds

    def calibration(self):
        """The calibration of the folded layers on the training images, as `convert`'s."""
        if self.folded is None:
            raise FlowError(f"{self.name}: this design keeps no folded layers to convert again")
        return calibrate(self.folded, pixels_to_input(self.split.train_pixels))

    def converted_with(self, params, calibration=None) -> "Design":
        """This design converted again with the coding's parameter object `params`, the
        way `convert` converted it (the coding's fine-tuning, then its conversion), from
        `calibration` (None: computed again). ConversionError for parameters it refuses."""
        started = time.monotonic()
        calibration = self.calibration() if calibration is None else calibration
        network, layers = convert_network(self.coding, self.folded, calibration, self.split,
                                          params)
        return Design(self.name, self.coding, network, layers, self.split,
                      self.float_classes, self.source, self.contract, self.contract_given_by,
                      self.contract_check, params=params, folded=self.folded,
                      conversion_seconds=time.monotonic() - started)

    @property
    def input_contract_warning(self) -> str | None:
        """Set when another input contract scores clearly higher than the one given."""
        return None if self.contract_check is None else self.contract_check.warning

    def input_contract(self) -> dict | None:
        """report.json's `input_contract`."""
        if self.contract is None:
            return None
        return contract_record(self.contract, self.image_shape, self.contract_given_by,
                               self.contract_check)

    @property
    def image_shape(self) -> tuple:
        return self.split.image_shape

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Classes of uint8 images (n, *image_shape) or flat, from the golden model."""
        return self.network.simulate(check_images(images, self.image_shape)).classes

    def accuracy(self) -> dict:
        """Float ANN and golden SNN accuracy on the test split, in percent."""
        labels = self.split.test_labels
        return {"ann_float_percent": round(100 * float(
                    (self.float_classes(self.split.test_pixels) == labels).mean()), 3),
                "snn_golden_percent": round(100 * float(
                    (self.predict(self.split.test_pixels) == labels).mean()), 3)}

    def balanced_lanes(self, budget: int, images: int = 100) -> list[int]:
        """`--lanes auto`: lanes per layer, `budget` in all, balancing the layers' cycles
        (`golden.cycles.balanced_lanes`) on the first `images` calibration images."""
        result = self.network.simulate(self.split.train_pixels[:images])
        return balanced_lanes(self.network, result, budget)

    def top(self, lanes: int | list[int] = 4, spram_layers=(), **memory_plan):
        """The Amaranth `SnnTop` of this network (UnsupportedLayer for layers with no RTL);
        the weight tables of `spram_layers` ("layer1", ..) in the UP5K's SPRAMs;
        `memory_plan`: `SnnTop`'s input_banks, shared_state."""
        from hdl.export import build_top
        return build_top(self.network, lanes, spram_layers, **memory_plan)

    def fitted_top(self, board: str, lanes: int | list[int] = 4, weights_in: str = "auto",
                   memory: str = "auto", top=None, advise: bool = True, note=None):
        """The top that fits `board`'s block RAM (`boards.fit.fit_memories`: the memory
        plans in turn, then weight tables in SPRAM as `weights_in` allows); `top`, this
        design's top with the FAST plan if already built. DoesNotFit, with the figures,
        when nothing fits, and (`advise`) what does, estimated (`flows.advice.fit_advice`,
        each estimate a `note`)."""
        from boards.fit import DoesNotFit, fit_memories
        try:
            return fit_memories(self.top(lanes) if top is None else top,
                                lambda *how, **plan: self.top(lanes, *how, **plan), board,
                                weights_in, memory,
                                label=f"{self.name} ({self.coding}, lanes {lanes})")
        except DoesNotFit as error:
            if not advise:
                raise
            from .advice import fit_advice
            advice = fit_advice(self, board, lanes, weights_in, memory, error.estimate, note)
            raise DoesNotFit(f"{error}. {advice[0].upper()}{advice[1:]}",
                             error.estimate) from None

    def simulate_rtl(self, images: np.ndarray, lanes: int | list[int] = 4,
                     directory=None) -> np.ndarray:
        """Classes of `images` from snn_top's Verilog on Verilator, checked against the golden
        model in class and cycle count (RtlMismatch on any difference). Simulator files go
        to a scratch directory unless `directory` is given (absent, empty or written by
        this toolkit before: `flows.outputs`)."""
        from hdl.export import top_verilog
        from .simulate import check_rtl
        images = check_images(images, self.image_shape)
        kept = None if directory is None else claim_directory(directory, "directory")
        with tempfile.TemporaryDirectory(prefix="snn-design-") as scratch:
            verilog = Path(scratch) / "snn_top.v"
            verilog.write_text(top_verilog(self.top(lanes)))
            return check_rtl(verilog, self.network, images, lanes,
                             kept or Path(scratch) / "rtl_sim")

    def build(self, out=None, board: str = "none", lanes: int | list[int] | str | None = None,
              golden_only: bool = False, command=None, progress=None,
              board_options: dict | None = None, weights_in: str = "auto",
              memory: str = "auto", hint_trials: bool = True) -> Path:
        """Write a build directory (network.json, report.json; unless `golden_only`, Verilog
        and ROM files; with a board, its build) and return its path. `lanes`: a count, one
        per layer, or "auto" (as many lanes in all as the board's default count on every
        layer, spread to balance the layers' cycles). `board_options` go to the board
        target (`timing_proxy=False`: the Arty build skips its ECP5 proxy). `weights_in`
        (iCEBreaker): "auto" (weight tables that do not fit block RAM go to SPRAM, loaded
        at run time by `flows.board`), "block-ram" or "spram" (every layer's). `memory`:
        the memory plan, "auto", "fast" or "lean" (`boards.fit.memory_steps`).
        `hint_trials`: an SNN that loses more than its coding's bound converts again with
        each of the coding's candidate settings and names those that help
        (`flows.advice.accuracy_trials`: a conversion and a test-split simulation each),
        and a design that does not fit the board is estimated with other settings
        (`fit_advice`); False (for callers that build many points) names the accuracy
        settings untried and gives the fit's figures alone."""
        from boards import get_target
        from hdl.network import UnsupportedLayer
        from hdl.export import top_verilog
        from .report import print_summary
        target = get_target(board)
        lanes = target.default_lanes if lanes is None else lanes
        requested_lanes = lanes
        try:
            if lanes == "auto":
                lanes = self.balanced_lanes(target.default_lanes * len(self.network.layers))
            lanes_per_layer(self.network, lanes)
        except ValueError as error:
            raise FlowError(str(error)) from None
        if golden_only and board != "none":
            raise FlowError(f"--golden-only makes no board build; drop --board {board}")
        from boards.fit import BOARDS as FPGAS, LEAN, FAST, MEMORY_PLANS, WEIGHTS_IN
        if memory not in MEMORY_PLANS:
            raise FlowError(f"--memory: {memory!r} is none of {', '.join(MEMORY_PLANS)}")
        if weights_in not in WEIGHTS_IN:
            raise FlowError(f"--weights-in: {weights_in!r} is none of {', '.join(WEIGHTS_IN)}")
        if weights_in == "spram" and board != "icebreaker":
            raise FlowError(f"--weights-in spram: only the icebreaker keeps weights in SPRAM, "
                            f"not --board {board}")
        suffix = "golden" if golden_only else board
        prefix = "" if self.name == DEFAULT_NETWORK else f"{self.name}-"
        out = Path(out) if out else Path("build") / f"{prefix}{self.coding}-{suffix}"
        # a folder the toolkit did not write, or a file in the way: an error now, not after
        # the build; Ctrl-C from here on says what became of `out`
        check_output_path(out)
        with interrupts_named(out):
            steps = 3 if golden_only else 4 if board == "none" else 5
            if progress is None:
                progress = Progress(steps)
            else:                            # a flow's progress, continued
                progress.total = progress.number + steps
            if self.input_contract_warning:
                progress.note(f"warning: {self.input_contract_warning}")
            top = None
            if not golden_only:
                try:
                    # refuses layers the RTL cannot run
                    top = self.top(lanes, **(LEAN if memory == "lean" and board not in FPGAS
                                             else FAST))
                except UnsupportedLayer as error:
                    raise FlowError(f"{self.name}: {error}. Use --golden-only for the golden "
                                    "model's figures") from None
            if top is not None and board in FPGAS:  # does not fit: said now, before any tool runs
                top = self.fitted_top(board, lanes, weights_in, memory, top,
                                      advise=hint_trials, note=progress.note)
            progress.step(f"golden simulation of {len(self.split.test_labels)} test images")
            report = {"coding": self.coding, "network_name": self.name, "source": self.source,
                      "image_shape": list(self.image_shape),
                      "input_contract": self.input_contract(),
                      "layer_shapes": [layer.describe() for layer in self.layers],
                      "params": self.network.describe()["params"], "lanes": requested_lanes,
                      "board": board,
                      # what each engine really runs: a layer has no more lanes than neurons
                      "lanes_per_layer": [e.lanes for e in top.engines] if top is not None
                      else lanes if requested_lanes == "auto" else None,
                      # layers whose weights are loaded at run time (flows.board sends them)
                      "spram_layers": [] if top is None or top.spram_layout is None else
                      [e.name for e in top.engines if e.weights_in_spram],
                      # --memory: input banks (2: the next image loads while the layers run)
                      # and whether the layers share one state RAM
                      "memory_plan": None if top is None else {
                          "input_banks": top.input_banks, "shared_state_ram": top.shared_state},
                      **evaluate(self.network, self.float_classes, self.split, lanes, self.layers,
                                 hardware=not golden_only,
                                 input_banks=top.input_banks if top is not None else 2)}
            accuracy = report["accuracy"]
            if hint_trials and "outside_bound" in accuracy:   # named where measured to help
                from .advice import accuracy_trials
                accuracy.update(accuracy_trials(self, accuracy["ann_float_percent"],
                                                accuracy["snn_golden_percent"], progress.note))
            with staged_directory(out, progress) as staging:
                save_network(self.network, staging, self.image_shape)
                resources = {}
                if not golden_only:
                    progress.step("generating Verilog of snn_top and the ROM files")
                    (staging / "snn_top.v").write_text(top_verilog(top))
                    (staging / "roms").mkdir()
                    for rom in top.roms():
                        rom.write_hex(staging / "roms")
                    resources = rom_report(top)
                    if top.spram_layout is not None:
                        resources["run_time_weights"] = write_weight_image(top.spram_layout,
                                                                           staging)
                if board != "none":
                    progress.step(f"board build: {board}")
                    # a target that checks its output on test images (asic) gets some
                    inputs = {"test_images": self.split.test_pixels} \
                        if getattr(target, "needs_test_images", False) else {}
                    resources.update(target.build(top, staging, progress.note, **inputs,
                                                  **(board_options or {})))
                    # paths relative to the build directory, so that a build can be moved
                    resources = _relative(resources, staging)
                progress.step("writing report.json")
                report.update({
                    "network": self.network.describe(), "resources": resources,
                    "generated": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                        timespec="seconds"), "host": platform.node(),
                        "command": command if command is not None else invocation()}})
                (staging / "report.json").write_text(json.dumps(report, indent=2, default=jsonable))
            progress.step("done")
            print_summary(report, out)
            return out


def write_weight_image(layout, directory: Path) -> dict:
    """The SPRAM weight image `flows.board` sends after programming (`boards/commands.py`)."""
    from boards.commands import checksum
    image = layout.image()
    (directory / WEIGHT_IMAGE).write_bytes(image)
    return {"file": WEIGHT_IMAGE, "crc16_ccitt": checksum(image),
            **layout.describe()}


WEIGHT_IMAGE = "spram_weights.bin"


def invocation() -> list[str]:
    """How this process was started, without the build machine's paths: a module run as
    `python -m flows.build` is named so."""
    from hdl.export import REPOSITORY
    if not sys.argv or not sys.argv[0]:
        return ["python"]
    program = Path(sys.argv[0]).resolve()
    if program.suffix == ".py":
        if "site-packages" in program.parts:
            root = Path(*program.parts[:program.parts.index("site-packages") + 1])
        else:
            root = REPOSITORY if program.is_relative_to(REPOSITORY) else program.parent
        module = ".".join(program.relative_to(root).with_suffix("").parts)
        return ["python", "-m", module, *sys.argv[1:]]
    return [program.name, *sys.argv[1:]]


def _relative(value, directory: Path):
    """`value` with every path inside `directory` made relative to it (nested too)."""
    if isinstance(value, dict):
        return {key: _relative(item, directory) for key, item in value.items()}
    if isinstance(value, str) and value.startswith(str(directory) + "/"):
        return value[len(str(directory)) + 1:]
    return value


def _data(data, bundled_name: str | None) -> Split:
    if data is None:
        if bundled_name is None:
            raise FlowError("--data is required with --model: an .npz with x_train, y_train, "
                            "x_test, y_test")
        return load_split(bundled_name)
    if isinstance(data, Split):
        return data
    if isinstance(data, (str, Path)):
        return load_npz(data)
    raise FlowError(f"data: expected an .npz path or a golden.data.Split, not "
                    f"{type(data).__name__}")


def _model_shapes(shape: tuple) -> list[tuple]:
    """Input shapes to try tracing a torch module with, for data of per-image `shape`."""
    shapes = [tuple(shape)]
    if len(shape) == 3 and shape[0] == 1:
        shapes.append(tuple(shape[1:]))
    shapes.append((int(np.prod(shape)),))
    return list(dict.fromkeys(shapes))


def _front_end(model, split: Split):
    """(nn.Sequential on flat inputs, float classifier, source text, image shape)."""
    if isinstance(model, nn.Module):
        from golden.frontends.torch_graph import InputShapeError, sequential_from_module
        failures = []
        for shape in _model_shapes(split.image_shape):
            try:
                sequential = sequential_from_module(model, shape)
            except InputShapeError as error:
                # another shape may suit it; any other fault is the model's, said at once
                failures.append(f"as (n, {', '.join(map(str, shape))}): {error}")
                continue
            image = split.image_shape if len(shape) == 1 else \
                (shape if len(shape) == 3 else (1, *shape))
            return sequential, shape, f"torch module {type(model).__name__}", image
        raise ConversionError(f"{type(model).__name__} does not take the data's images "
                              f"{split.image_shape}: " + "; ".join(failures))
    from golden.frontends.onnx_graph import sequential_from_onnx
    sequential, shape = sequential_from_onnx(model)
    if int(np.prod(shape)) != int(np.prod(split.image_shape)):
        raise ConversionError(f"--model {model} takes inputs of shape {shape}, the data's "
                              f"images are {split.image_shape}")
    image = shape if len(shape) == 3 else split.image_shape
    return sequential, None, f"ONNX file {Path(model).name}", image


def convert(model=None, data=None, coding: str = "phase", *, name: str | None = None,
            input_mean=None, input_std=None, input_scale: float | None = None,
            params=None, **options) -> Design:
    """Convert `model` (ONNX path, torch module, bundled network name or None for the
    default) with `data` to `coding`; `options` are the coding's parameters (T=16, Q=1.25,
    ...; None = default: a model of 784 or more inputs per image takes those of its size,
    `golden.codings.input_size_defaults`), or `params` one parameter object
    (`golden.codings.<coding>`, taken as it is). The float model takes
    x = (pixel/input_scale - input_mean[c]) / input_std[c] (default pixel/255; bundled
    networks carry their own)."""
    if params is not None and options:
        raise FlowError("give the coding's parameters as keywords or as `params`, not both")
    try:
        bundled_name = (model or DEFAULT_NETWORK) if model is None or (
            isinstance(model, str) and model in NETWORKS) else None
        # checked here, before any file is read; a user's model's defaults follow its size
        checked = params if params is not None else coding_params(coding, options,
                                                                  bundled_name)
        return _convert(model, data, coding, name, input_mean, input_std, input_scale,
                        checked if params is not None or bundled_name else None, options)
    except (ConversionError, DataError) as error:
        raise FlowError(str(error)) from None


def _convert(model, data, coding, name, input_mean, input_std, input_scale, parameters,
             options: dict):
    """`parameters`: the coding's parameter object; None for a user's model without one,
    whose defaults follow its input size (`coding_params` with `options`)."""
    if model is None or (isinstance(model, str) and model in NETWORKS):
        network_name = model or DEFAULT_NETWORK
        if any(v is not None for v in (input_mean, input_std, input_scale)):
            raise FlowError(f"{network_name} is bundled with its own input contract; "
                            "--input-mean/--input-std/--input-scale apply to --model")
        split = _data(data, network_name)
        entry, sequential = bundled(network_name), load_bundled(network_name)
        contract, image_shape = entry.contract, split.image_shape
        source = given_by = f"bundled network {network_name}"
        check = None

        def float_classes(pixels):
            return ann_classes(sequential, pixels, contract, image_shape)
    else:
        if isinstance(model, (str, Path)) and not str(model).endswith(".onnx"):
            raise FlowError(f"--model {model}: expected an .onnx file or a bundled network "
                            f"({', '.join(NETWORKS)})")
        split = _data(data, None)
        sequential, model_shape, source, image_shape = _front_end(model, split)
        contract = InputContract(scale=255.0 if input_scale is None else float(input_scale),
                                 mean=tuple(np.atleast_1d(0.0 if input_mean is None
                                                          else input_mean).tolist()),
                                 std=tuple(np.atleast_1d(1.0 if input_std is None
                                                         else input_std).tolist()))
        split = Split(split.train_pixels, split.train_labels, split.test_pixels,
                      split.test_labels, tuple(image_shape))
        network_name = name or (Path(model).stem if isinstance(model, (str, Path))
                                else type(model).__name__.lower())
        # the user's own module for the float accuracy: what they measure in PyTorch
        float_model = model if isinstance(model, nn.Module) else sequential
        shape = model_shape if isinstance(model, nn.Module) else None

        def classes_under(pixels, under: InputContract):
            return ann_classes(float_model, pixels, under, image_shape, shape)

        def float_classes(pixels):
            return classes_under(pixels, contract)
        given = [v is not None for v in (input_mean, input_std, input_scale)]
        given_by = ("the default: no --input-mean/--input-std" if not any(given) else
                    "input_scale, input_mean, input_std" if given[2] else
                    "--input-mean/--input-std")
        # before converting: does another contract suit the float model clearly better?
        check = check_contract(classes_under, split.train_pixels, split.train_labels,
                               image_shape, contract, explicit=any(given))
    if parameters is None:
        parameters = coding_params(coding, options, inputs=int(np.prod(image_shape)))
    layers = fold_network(sequential)
    fold_input_contract(layers, contract, image_shape)
    started = time.monotonic()
    folded = layers
    calibration = calibrate(layers, pixels_to_input(split.train_pixels))
    network, layers = convert_network(coding, layers, calibration, split, parameters)
    return Design(name or network_name, coding, network, layers, split, float_classes, source,
                  contract, given_by, check, params=parameters, folded=folded,
                  conversion_seconds=time.monotonic() - started)
