"""ONNX front end: an ONNX file → the `nn.Sequential` of supported modules it computes.

The file is parsed with the `onnx` package (protobuf, no code executed, nothing
unpickled); weights may be inline or in an external-data file beside the model, as
`torch.onnx.export` writes them with either exporter. The graph must be a chain (every
node's data input is the previous node's output) except for residual blocks: an `Add` of
two paths from one tensor, then a `Relu` (`golden.frontends.dataflow`).
"""
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..convert import ConversionError
from .dataflow import walk

MIN_OPSET = 13
SUPPORTED_ONNX = ("Gemm, MatMul (+ Add), Conv, BatchNormalization, Relu, Flatten, Reshape to "
                  "(batch, features), AveragePool, MaxPool, GlobalAveragePool, ReduceMean over "
                  "H and W, Dropout and Identity (dropped), a final Softmax or LogSoftmax "
                  "(dropped: the class is the argmax), residual blocks: Add of two paths from "
                  "one tensor, then Relu")
def _attributes(node) -> dict:
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _where(node) -> str:
    return f"ONNX node {node.name or '(unnamed)'} ({node.op_type})"


def _load(path: Path):
    import onnx
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"--model {path}: no such file")
    try:
        model = onnx.load(str(path))     # reads external data from beside the file
    except Exception as error:           # protobuf decode or missing external data file
        raise ConversionError(f"--model {path}: not a readable ONNX model "
                              f"({type(error).__name__}: {error})") from None
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                default=0)
    if opset < MIN_OPSET:
        raise ConversionError(f"--model {path}: opset {opset}; opsets {MIN_OPSET} and later "
                              "are supported (re-export with a newer torch.onnx.export)")
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as error:
        raise ConversionError(f"--model {path}: ONNX shape inference failed ({error})") from None
    return model


def _shapes(model) -> dict:
    shapes = {}
    for info in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    return shapes


class _Graph:
    """Initializers and constants by name, and the node that consumes each tensor."""

    def __init__(self, model):
        import onnx.numpy_helper as numpy_helper
        graph = model.graph
        self.constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                value = _attributes(node).get("value")
                if value is not None:
                    self.constants[node.output[0]] = numpy_helper.to_array(value)
        self.shapes = _shapes(model)
        self.consumers: dict[str, list] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def constant(self, node, index: int, what: str) -> np.ndarray:
        if index >= len(node.input) or node.input[index] == "":
            return None
        name = node.input[index]
        if name not in self.constants:
            raise ConversionError(f"{_where(node)}: its {what} ({name}) must be a constant "
                                  "initializer, not computed in the graph")
        return self.constants[name]


def _tensor(array) -> nn.Parameter:
    return nn.Parameter(torch.from_numpy(np.array(array, dtype=np.float32)), requires_grad=False)


def _conv(node, graph: _Graph) -> nn.Conv2d:
    a, where = _attributes(node), _where(node)
    weight = graph.constant(node, 1, "weight")
    if weight.ndim != 4:
        raise ConversionError(f"{where}: only 2-D convolutions are supported "
                              f"(weight of rank {weight.ndim})")
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID"):
        raise ConversionError(f"{where}: auto_pad {a['auto_pad'].decode()} is not supported; "
                              "export with explicit padding")
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if pads[:2] != pads[2:]:
        raise ConversionError(f"{where}: asymmetric padding {pads} is not supported")
    if a.get("group", 1) != 1 or list(a.get("dilations", [1, 1])) != [1, 1]:
        raise ConversionError(f"{where}: grouped or dilated convolutions are not supported")
    bias = graph.constant(node, 2, "bias")
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:],
                     stride=tuple(a.get("strides", [1, 1])), padding=tuple(pads[:2]),
                     bias=bias is not None)
    conv.weight = _tensor(weight)
    if bias is not None:
        conv.bias = _tensor(bias)
    return conv


def _gemm(node, graph: _Graph) -> nn.Linear:
    a, where = _attributes(node), _where(node)
    if a.get("transA", 0):
        raise ConversionError(f"{where}: Gemm with transA is not supported")
    weight = graph.constant(node, 1, "weight") * a.get("alpha", 1.0)
    if not a.get("transB", 0):
        weight = weight.T
    bias = graph.constant(node, 2, "bias")
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    linear.weight = _tensor(weight)
    if bias is not None:
        bias = np.broadcast_to(bias * a.get("beta", 1.0), (weight.shape[0],))
        linear.bias = _tensor(bias)
    return linear


def _matmul(node, graph: _Graph, following):
    """MatMul(x, W) with W (in, out), and the Add of a constant bias that may follow it."""
    weight = graph.constant(node, 1, "weight")
    if weight.ndim != 2:
        raise ConversionError(f"{_where(node)}: MatMul with a weight of rank {weight.ndim}")
    linear = nn.Linear(weight.shape[0], weight.shape[1], bias=False)
    linear.weight = _tensor(weight.T)
    if following is not None and following.op_type == "Add" and node.output[0] in following.input:
        other = 1 if following.input[0] == node.output[0] else 0
        bias = graph.constant(following, other, "bias")
        linear.bias = _tensor(np.broadcast_to(bias, (weight.shape[1],)))
        return linear, 2
    return linear, 1


def _batch_norm(node, graph: _Graph, rank: int):
    scale, bias, mean, var = (graph.constant(node, i, what) for i, what in
                              enumerate(("scale", "bias", "mean", "variance"), start=1))
    norm = (nn.BatchNorm2d if rank == 4 else nn.BatchNorm1d)(
        len(scale), eps=_attributes(node).get("epsilon", 1e-5))
    norm.weight, norm.bias = _tensor(scale), _tensor(bias)
    norm.running_mean = torch.from_numpy(mean.astype(np.float32))
    norm.running_var = torch.from_numpy(var.astype(np.float32))
    return norm.eval()


def _pool(node):
    a, where = _attributes(node), _where(node)
    if node.op_type == "MaxPool" and len([o for o in node.output if o]) > 1:
        raise ConversionError(f"{where}: MaxPool with indices output is not supported")
    if any(a.get("pads", [0])) or a.get("ceil_mode", 0) or \
            a.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID"):
        raise ConversionError(f"{where}: pooling with padding or ceil_mode is not supported")
    if list(a.get("dilations", [1, 1])) != [1, 1]:
        raise ConversionError(f"{where}: pooling with dilation is not supported")
    kernel = tuple(a["kernel_shape"])
    stride = tuple(a.get("strides", kernel))
    return (nn.MaxPool2d if node.op_type == "MaxPool" else nn.AvgPool2d)(kernel, stride)


def _is_flattening(shape_in, shape_out) -> bool:
    return (shape_out is not None and len(shape_out) == 2 and shape_in is not None
            and None not in shape_in[1:] and shape_out[1] == int(np.prod(shape_in[1:])))


def _global_pool(node, graph: _Graph, shape, where: str) -> list[nn.Module]:
    """GlobalAveragePool, or ReduceMean over H and W: one average pool over the whole map."""
    if shape is None or len(shape) != 4:
        raise ConversionError(f"{where}: global pooling needs a (batch, C, H, W) input")
    if node.op_type == "ReduceMean":
        a = _attributes(node)
        axes = a.get("axes")
        if axes is None and len(node.input) > 1:
            axes = graph.constant(node, 1, "axes")
        axes = [] if axes is None else [int(x) for x in np.atleast_1d(axes)]
        if sorted(x % 4 for x in axes) != [2, 3]:
            raise ConversionError(f"{where}: ReduceMean is supported over H and W only "
                                  f"(axes 2, 3), not {axes}")
        pool = [nn.AvgPool2d(tuple(shape[2:]))]
        return pool if a.get("keepdims", 1) else pool + [nn.Flatten()]
    return [nn.AvgPool2d(tuple(shape[2:]))]


def sequential_from_onnx(path) -> tuple[nn.Sequential, tuple]:
    """The model as a `nn.Sequential` that takes flat inputs (n, C·H·W), and the input's
    per-image shape, (C, H, W) or (features,)."""
    model = _load(path)
    graph = _Graph(model)
    inputs = [i for i in model.graph.input if i.name not in graph.constants]
    if len(inputs) != 1:
        raise ConversionError(f"--model {path}: {len(inputs)} graph inputs; one image input "
                              "is supported")
    if len(model.graph.output) != 1:
        raise ConversionError(f"--model {path}: {len(model.graph.output)} graph outputs; "
                              "one class-score output is supported")
    shape = graph.shapes[inputs[0].name]
    if len(shape) not in (2, 3, 4) or None in shape[1:]:
        raise ConversionError(f"--model {path}: input {inputs[0].name} has shape {shape}; "
                              "expected (batch, features), (batch, H, W) or (batch, C, H, W) "
                              "with fixed sizes")
    image_shape = tuple(shape[1:]) if len(shape) != 3 else (1, *shape[1:])
    modules: list[nn.Module] = [nn.Unflatten(1, image_shape)] if len(image_shape) == 3 else []
    data_path = _OnnxDataPath(model, graph, inputs[0].name, model.graph.output[0].name)
    modules += walk(data_path, inputs[0].name)[0]
    return nn.Sequential(*modules).eval(), image_shape


class _OnnxDataPath:
    """The model's data path for `dataflow.walk`: values are tensor names. A node is on it
    when one of its inputs is data (the image or a data node's output); Shape nodes and
    constant arithmetic stay beside it."""

    def __init__(self, model, graph: _Graph, source: str, output: str):
        self.graph, self.output, self.data, self.nodes = graph, output, {source}, []
        for node in model.graph.node:
            if node.op_type == "Shape" or not any(name in self.data for name in node.input):
                continue
            self.nodes.append(node)
            self.data.update(o for o in node.output if o)

    def readers(self, value: str) -> list:
        return [node for node in self.nodes if value in node.input]

    def is_output(self, value: str) -> bool:
        return value == self.output

    def is_sum(self, node) -> bool:
        return node.op_type == "Add" and sum(name in self.data for name in node.input) == 2

    def joins(self, node) -> bool:
        return sum(name in self.data for name in node.input) > 1

    def output_of(self, node) -> str:
        return node.output[0]

    def where(self, node) -> str:
        return _where(node)

    def translate(self, node, current: str):
        where, op, graph = _where(node), node.op_type, self.graph
        if [name for name in node.input if name in self.data] != [current] or \
                node.input[0] != current:
            raise ConversionError(f"{where}: its input is not the previous layer's output "
                                  f"{current}; only chains of layers and residual blocks are "
                                  "supported")
        shape_in = graph.shapes.get(current)
        modules = []
        if op == "Conv":
            modules.append(_conv(node, graph))
        elif op == "Gemm":
            modules.append(_gemm(node, graph))
        elif op == "MatMul":
            readers = self.readers(node.output[0])
            following = readers[0] if len(readers) == 1 else None
            linear, step = _matmul(node, graph, following)
            if step == 2:
                node = following
            modules.append(linear)
        elif op == "BatchNormalization":
            modules.append(_batch_norm(node, graph, len(shape_in or [0, 0])))
        elif op == "Relu":
            modules.append(nn.ReLU())
        elif op in ("MaxPool", "AveragePool"):
            modules.append(_pool(node))
        elif op in ("GlobalAveragePool", "ReduceMean"):
            modules += _global_pool(node, graph, shape_in, where)
        elif op == "Flatten":
            if _attributes(node).get("axis", 1) != 1:
                raise ConversionError(f"{where}: Flatten with axis other than 1")
            modules.append(nn.Flatten())
        elif op == "Reshape":
            shape_out = graph.shapes.get(node.output[0])
            if not _is_flattening(shape_in, shape_out):
                raise ConversionError(f"{where}: Reshape from {shape_in} to {shape_out}; only "
                                      "flattening to (batch, features) is supported")
            modules.append(nn.Flatten())
        elif op in ("Dropout", "Identity"):
            pass
        elif op in ("Softmax", "LogSoftmax"):
            return "final", node.output[0]
        else:
            raise ConversionError(f"{where}: unsupported operator {op}; supported: "
                                  f"{SUPPORTED_ONNX}")
        return modules, node.output[0]
