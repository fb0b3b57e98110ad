"""PyTorch front end: any `torch.nn.Module` → the `nn.Sequential` of supported modules it
computes, so that a module with `forward` code (not only `nn.Sequential`) converts.

The module is traced with `torch.fx` (its submodules are kept as they are, so batch norm
and the layers keep their names in errors). A module `torch.fx` cannot trace (data-
dependent Python in `forward`) goes through `torch.export`, by way of the ONNX exporter
built on it, and then the ONNX front end: one internal layer list either way. Residual
blocks (a `+` of two paths from one value, then a ReLU) become `golden.graph.Residual`
(`golden.frontends.dataflow`).
"""
import contextlib
import io
import operator
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..convert import ConversionError
from .dataflow import walk

SUPPORTED_TORCH = ("Linear, Conv2d, BatchNorm1d/2d, ReLU (module, torch.relu, F.relu), "
                   "Flatten (module, torch.flatten, view/reshape to (batch, features)), "
                   "AvgPool2d, MaxPool2d (modules or F.avg_pool2d, F.max_pool2d), "
                   "AdaptiveAvgPool2d(1), Dropout and Identity "
                   "(dropped), a final Softmax or LogSoftmax (dropped), residual blocks "
                   "relu(F(x) + S(x)) with S the identity or a 1x1 Conv2d with batch norm")
SUPPORTED_MODULES = ("Linear, Conv2d, BatchNorm1d/2d, ReLU, Flatten, AvgPool2d, MaxPool2d, "
                     "AdaptiveAvgPool2d(1), Dropout and Identity (dropped), a final Softmax or "
                     "LogSoftmax (dropped), residual blocks relu(F(x) + S(x))")
KEPT_MODULES = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.Flatten,
                nn.AvgPool2d, nn.MaxPool2d)
DROPPED_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Identity)
FINAL_MODULES = (nn.Softmax, nn.LogSoftmax)
RELU_FUNCTIONS = {torch.relu, F.relu}
FLATTEN_FUNCTIONS = {torch.flatten}
DROPPED_FUNCTIONS = {F.dropout, torch.dropout}
POOL_FUNCTIONS = {
    "max_pool2d": (nn.MaxPool2d, ("kernel_size", "stride", "padding", "dilation", "ceil_mode",
                                  "return_indices")),
    "avg_pool2d": (nn.AvgPool2d, ("kernel_size", "stride", "padding", "ceil_mode",
                                  "count_include_pad", "divisor_override"))}
FINAL_FUNCTIONS = {torch.softmax, F.softmax, torch.log_softmax, F.log_softmax}
SUM_FUNCTIONS = {operator.add, operator.iadd, torch.add}


class InputShapeError(ConversionError):
    """The module does not take inputs of the shape tried; another shape may suit it."""


def _shape(node) -> tuple | None:
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _data_args(node, data: set) -> list:
    found = []
    torch.fx.node.map_arg((node.args, node.kwargs),
                          lambda arg: found.append(arg) if arg in data else None)
    return found


def _flatten_ok(node, shape_in) -> bool:
    shape_out = _shape(node)
    return (shape_out is not None and shape_in is not None and len(shape_out) == 2
            and shape_out[1] == int(np.prod(shape_in[1:])))


def _adaptive(output_size, shape_in, where: str) -> nn.AvgPool2d:
    if output_size in (1, (1, 1), [1, 1]) and (shape_in is None or len(shape_in) != 4):
        raise InputShapeError(f"{where}: global average pooling of a value of shape "
                              f"{shape_in}; it pools (batch, C, H, W)")
    if output_size not in (1, (1, 1), [1, 1]):
        raise ConversionError(f"{where}: adaptive average pooling is supported to 1x1 only "
                              f"(global average pooling), not {output_size}")
    return nn.AvgPool2d(tuple(shape_in[2:]))


def _module_for(node, traced, shape_in, where: str):
    """The kept module for a call_module node, None to drop it, or 'final'."""
    module = traced.get_submodule(node.target)
    if isinstance(module, KEPT_MODULES):
        if isinstance(module, nn.Flatten) and not _flatten_ok(node, shape_in):
            raise InputShapeError(f"{where}: Flatten must give (batch, features)")
        return module
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return _adaptive(module.output_size, shape_in, where)
    if isinstance(module, DROPPED_MODULES):
        return None
    if isinstance(module, FINAL_MODULES):
        return "final"
    raise ConversionError(f"{where}: not supported; supported modules: {SUPPORTED_MODULES}")


def _function_for(node, shape_in, where: str):
    target = node.target
    if target in RELU_FUNCTIONS:
        return nn.ReLU()
    if target in FLATTEN_FUNCTIONS:
        if not _flatten_ok(node, shape_in):
            raise InputShapeError(f"{where}: torch.flatten must give (batch, features)")
        return nn.Flatten()
    if target in DROPPED_FUNCTIONS:
        return None
    if target in FINAL_FUNCTIONS:
        return "final"
    if target is F.adaptive_avg_pool2d:
        return _adaptive(node.args[1] if len(node.args) > 1 else node.kwargs["output_size"],
                         shape_in, where)
    name = getattr(target, "__name__", str(target))
    if name in POOL_FUNCTIONS:           # F.max_pool2d / F.avg_pool2d: the module's arguments
        module, arguments = POOL_FUNCTIONS[name]
        options = dict(zip(arguments, node.args[1:])) | dict(node.kwargs)
        if options.get("return_indices"):
            raise ConversionError(f"{where}: max pooling with return_indices is not supported")
        return module(**options)
    raise ConversionError(f"{where}: unsupported function {name}; supported: {SUPPORTED_TORCH}")


def _method_for(node, shape_in, where: str):
    if node.target in ("view", "reshape", "flatten"):
        if not _flatten_ok(node, shape_in):
            raise InputShapeError(f"{where}: .{node.target}() to {_shape(node)}; only "
                                  "flattening to (batch, features) is supported")
        return nn.Flatten()
    if node.target in ("relu", "relu_"):
        return nn.ReLU()
    if node.target in ("softmax", "log_softmax"):
        return "final"
    raise ConversionError(f"{where}: unsupported method .{node.target}(); supported: "
                          f"{SUPPORTED_TORCH}")


def _trace(module: nn.Module, example: torch.Tensor):
    from torch.fx.passes.shape_prop import ShapeProp
    traced = torch.fx.symbolic_trace(module)
    ShapeProp(traced).propagate(example)
    return traced


def sequential_from_module(module: nn.Module, input_shape: tuple) -> nn.Sequential:
    """`module` (eval mode, inputs of per-image `input_shape`) as a `nn.Sequential` that takes
    flat inputs (n, C·H·W); raises ConversionError naming the node at fault, InputShapeError
    when the fault is the input's shape."""
    module = module.eval()
    example = torch.zeros((2, *input_shape))
    try:
        with torch.no_grad():
            module(example)
    except Exception as error:
        raise InputShapeError(f"{type(module).__name__} does not run on inputs of shape "
                              f"(n, {', '.join(map(str, input_shape))}) "
                              f"({type(error).__name__}: {error})") from None
    try:
        traced = _trace(module, example)
    except ConversionError:
        raise
    except Exception:       # fx cannot trace it: torch.export, through the ONNX exporter
        return _through_export(module, example)
    image_shape = tuple(input_shape) if len(input_shape) != 2 else (1, *input_shape)
    modules: list[nn.Module] = [nn.Unflatten(1, image_shape)] if len(image_shape) == 3 else []
    graph = _FxGraph(module, traced)
    modules += walk(graph, graph.input)[0]
    return nn.Sequential(*modules).eval()


class _FxGraph:
    """A traced module's data path for `dataflow.walk`: its values are fx nodes. A node is
    data when it reads data (the input or a data node); shape queries and the arithmetic
    on their results stay beside the path."""

    def __init__(self, module: nn.Module, traced):
        self.name, self.traced = type(module).__name__, traced
        placeholders = [n for n in traced.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise ConversionError(f"{self.name}: the module takes {len(placeholders)} inputs; "
                                  "one image input is supported")
        self.input = placeholders[0]
        self.data = {self.input}
        self.position = {}             # data-path operations in forward order, from 1
        for node in traced.graph.nodes:
            if node.op not in ("placeholder", "get_attr", "output") and \
                    not _is_shape_query(node) and _data_args(node, self.data):
                self.data.add(node)
                self.position[node] = len(self.position) + 1

    def readers(self, value) -> list:
        return [u for u in value.users if u in self.data]

    def is_output(self, value) -> bool:
        return any(u.op == "output" for u in value.users)

    def is_sum(self, op) -> bool:
        adds = (op.op == "call_function" and op.target in SUM_FUNCTIONS) or \
            (op.op == "call_method" and op.target in ("add", "add_"))
        return adds and len(_data_args(op, self.data)) == 2

    def joins(self, op) -> bool:
        return len(_data_args(op, self.data)) > 1

    def output_of(self, op):
        return op

    def where(self, op) -> str:
        """`Net layer 3 (model.4): Sigmoid` as `print(module)` names a submodule; a function
        or method by its node: `Net layer 5, node cat (call_function cat)`."""
        layer = f"{self.name} layer {self.position.get(op, '?')}"
        if op.op == "call_module":
            return f"{layer} ({op.target}): {type(self.traced.get_submodule(op.target)).__name__}"
        return f"{layer}, node {op.name} ({op.op} {getattr(op.target, '__name__', op.target)})"

    def translate(self, op, value):
        where = self.where(op)
        if _data_args(op, self.data) != [value]:
            raise ConversionError(f"{where}: reads {len(_data_args(op, self.data))} data values; "
                                  "only chains of layers and residual blocks are supported")
        shape_in = _shape(value)
        if op.op == "call_module":
            kept = _module_for(op, self.traced, shape_in, where)
        elif op.op == "call_function":
            kept = _function_for(op, shape_in, where)
        else:
            kept = _method_for(op, shape_in, where)
        return ("final" if kept == "final" else [] if kept is None else [kept]), op


def _is_shape_query(node) -> bool:
    return (node.op == "call_method" and node.target in ("size", "dim")) or \
        (node.op == "call_function" and node.target is getattr)


def _through_export(module: nn.Module, example: torch.Tensor) -> nn.Sequential:
    from .onnx_graph import sequential_from_onnx
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.onnx"
        try:
            # the exporter's progress lines and its own deprecation notices are not the user's
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, (example,), str(path), dynamo=True, verbose=False,
                                  input_names=["x"])
        except Exception as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ConversionError(f"{type(module).__name__}: neither torch.fx nor torch.export "
                                  f"can trace it ({type(error).__name__}: {first_line})") from None
        sequential, _ = sequential_from_onnx(path)
    return sequential
