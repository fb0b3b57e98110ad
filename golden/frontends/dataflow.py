"""Walking a model's data path into modules, residual blocks included: shared by the
PyTorch (`torch.fx`) and ONNX front ends, which differ only in how they read a graph.

The data path is a chain of operations, except where a value is read twice: then both
paths from it must meet again in one addition (a traced `+`, an ONNX `Add` of two data
tensors) followed by a ReLU, and the block becomes `golden.graph.Residual(branch,
shortcut)`: the path with a ReLU is the branch, the other the shortcut (no operation: the
identity). Anything else (a third reader, paths that do not meet, a sum without ReLU) is
refused naming the operation.
"""
from typing import Protocol

from torch import nn

from ..convert import ConversionError
from ..graph import Residual


class DataGraph(Protocol):
    def readers(self, value) -> list: ...         # operations reading `value` on the data path
    def is_output(self, value) -> bool: ...       # `value` is the model's output
    def is_sum(self, op) -> bool: ...             # an addition of two data values
    def joins(self, op) -> bool: ...              # reads two or more data values
    def output_of(self, op): ...
    def where(self, op) -> str: ...               # the operation, named for an error
    # (modules, or "final" for a trailing Softmax; the value after it): `op` reads `value`
    def translate(self, op, value) -> tuple: ...


def walk(graph: DataGraph, value, stop=None) -> tuple[list[nn.Module], object]:
    """The modules from `value` to the model's output (or until the next reader is `stop`,
    a residual sum); returns them and the value where the walk ended."""
    modules: list[nn.Module] = []
    while True:
        readers = graph.readers(value)
        if stop is not None and readers == [stop]:
            return modules, value
        if graph.is_output(value):
            if readers:
                raise ConversionError(f"{graph.where(readers[0])}: reads the model's output")
            if stop is not None:
                raise ConversionError(f"{graph.where(stop)}: a residual path reaches the "
                                      "model's output before the sum")
            return modules, value
        if not readers:
            raise ConversionError(f"the data path ends at {value}, before the model's output")
        if len(readers) == 2:
            block, value = _residual(graph, value, readers)
            modules.append(block)
            continue
        if len(readers) != 1:
            raise ConversionError(
                f"{graph.where(readers[0])}: a value is read by "
                f"{len(readers)} operations; only chains of layers and residual blocks "
                "relu(F(x) + S(x)) are supported")
        op = readers[0]
        if graph.is_sum(op):
            raise ConversionError(f"{graph.where(op)}: a sum that does not close a residual "
                                  "block (both of its inputs must come from one value)")
        kept, value = graph.translate(op, value)
        if kept == "final":
            if not graph.is_output(value) or stop is not None:
                raise ConversionError(f"{graph.where(op)}: Softmax/LogSoftmax is supported "
                                      "only at the end")
            return modules, value
        modules += kept


def _join(graph: DataGraph, op):
    """The sum a path starting at `op` ends in."""
    while not graph.is_sum(op):
        if graph.joins(op):
            raise ConversionError(f"{graph.where(op)}: joins two paths, but not by a sum; "
                                  "only residual blocks relu(F(x) + S(x)) are supported")
        readers = graph.readers(graph.output_of(op))
        if not readers:
            raise ConversionError(f"{graph.where(op)}: a path from a value read twice ends "
                                  "here without meeting the other; only residual blocks "
                                  "relu(F(x) + S(x)) are supported")
        if len(readers) != 1:
            raise ConversionError(
                f"{graph.where(op)}: inside a residual block its result is read by "
                f"{len(readers)} operations; nested branches are not supported")
        op = readers[0]
    return op


def _residual(graph: DataGraph, fork, readers) -> tuple[Residual, object]:
    joins = [_join(graph, op) for op in readers]
    if joins[0] is not joins[1]:
        raise ConversionError(f"{graph.where(readers[1])}: the two paths from one value do not "
                              "meet in one sum; only residual blocks relu(F(x) + S(x)) are "
                              "supported")
    join = joins[0]
    paths = []
    for op in readers:
        if op is join:
            paths.append([])
            continue
        kept, value = graph.translate(op, fork)
        if kept == "final":
            raise ConversionError(f"{graph.where(op)}: Softmax inside a residual block")
        rest, _ = walk(graph, value, stop=join)
        paths.append(kept + rest)
    after = graph.readers(graph.output_of(join))
    relu = None
    if len(after) == 1 and not graph.is_sum(after[0]):
        kept, relu = graph.translate(after[0], graph.output_of(join))
    if relu is None or kept == "final" or len(kept) != 1 or not isinstance(kept[0], nn.ReLU):
        raise ConversionError(f"{graph.where(join)}: a residual sum must be followed by a ReLU "
                              "(y = relu(F(x) + S(x)))")
    with_relu = [any(isinstance(m, nn.ReLU) for m in path) for path in paths]
    if with_relu.count(True) != 1:
        raise ConversionError(
            f"{graph.where(join)}: exactly one path of a residual block must hold a ReLU (the "
            "branch F); the shortcut is the identity or one 1x1 Conv2d (or Linear) with batch "
            "norm")
    branch = paths[with_relu.index(True)]
    shortcut = paths[with_relu.index(False)]
    return Residual(nn.Sequential(*branch),
                    nn.Sequential(*shortcut) if shortcut else None), relu
