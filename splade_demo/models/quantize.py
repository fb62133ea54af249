"""Reduced-precision copies of a model: int8 (dynamic quantisation of its Linear layers) or bf16 (all of its
floating-point weights), and a probe for native bf16 on this CPU.

Dynamic quantisation (Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference"): Linear weights are stored as int8 with one scale per output channel,
activations are quantised per batch at run time. The copy is made layer by layer, so the fp32 and int8
weights are never resident together (see `quantized_copy`).
"""

from __future__ import annotations

import copy
import warnings
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Collection

import torch

from splade_demo.models.mapped_pages import Releaser, page_releaser

QUANTIZE_WORKERS = 2  # Linear layers quantised at once (`_quantize_linear_layers`)


def quantized_copy(model: torch.nn.Module, share_tensors: bool = True) -> torch.nn.Module:
    """An int8 copy of `model` (dynamic quantisation of its Linear layers); `model` is untouched.

    Weights get one scale per output channel: per-tensor scales moved the tiny SPLADE's top-10 pages
    (overlap 0.94 with fp32 on the labelled queries; 0.96 per channel, benchmarks/bench_encode.py).
    Only the module tree is copied: while it is made, the copy shares every fp32 tensor with `model`
    (read-only), so it never holds a second fp32 model.

    `share_tensors=False` is for a `model` that will be dropped afterwards: the tensors that stay fp32
    (embeddings, LayerNorm, biases) are cloned first, so the copy keeps no reference to `model`'s memory,
    and each fp32 Linear weight's memory-mapped pages are given back once its int8 version exists
    (splade_demo.models.mapped_pages), so the fp32 and int8 weights are never resident together.
    """
    shared = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    skeleton = copy.deepcopy(model, memo=shared)
    release = None
    if not share_tensors:  # before quantising: the int8 layers keep their fp32 bias tensors as given
        _clone_tensors(skeleton, keep=_linear_only_weights(skeleton))
        release = page_releaser()
    _quantize_linear_layers(skeleton, release)
    return skeleton.eval()


def _quantize_linear_layers(model: torch.nn.Module, release: Releaser | None) -> None:
    """Swap each torch.nn.Linear for its dynamic int8 version, as `torch.ao.quantization.quantize_dynamic`
    does with a per-channel qconfig; `release(weight)` after each.

    QUANTIZE_WORKERS layers are quantised at once: each is three torch calls (aminmax, quantize_per_channel,
    fbgemm's prepack) that release the GIL and run on one core. Only that many are handed out ahead: the layers are
    swapped in, in order, as they come, and a process that exits mid-copy (Ctrl-C) waits for those few layers only
    (the pool's threads finish what they were given)."""
    qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
    slots = [(parent, name, child) for parent in list(model.modules()) for name, child in list(parent.named_children())
             if type(child) is torch.nn.Linear]
    with warnings.catch_warnings(), ThreadPoolExecutor(QUANTIZE_WORKERS, thread_name_prefix="int8-copy") as pool:
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        in_flight: deque[tuple[torch.nn.Module, str, torch.nn.Linear, Future[torch.nn.Module]]] = deque()

        def swap_in_oldest() -> None:
            parent, name, child, int8_layer = in_flight.popleft()
            setattr(parent, name, int8_layer.result())
            if release is not None:
                release(child.weight)

        for parent, name, child in slots:
            in_flight.append((parent, name, child, pool.submit(dynamic_int8_linear, child, qconfig)))
            if len(in_flight) == QUANTIZE_WORKERS:
                swap_in_oldest()
        while in_flight:
            swap_in_oldest()


def dynamic_int8_linear(layer: torch.nn.Linear, qconfig: torch.ao.quantization.QConfig) -> torch.nn.Module:
    """`torch.ao.nn.quantized.dynamic.Linear.from_float(layer)` with `qconfig`'s weight observer: the same int8
    weights, scales and packed parameters (tests/unit/test_splade.py), made about 20 % faster.

    `from_float` builds its module at full size first, which packs a zero weight of the layer's shape for fbgemm
    (as costly as packing the real one: the 30,522 x 768 vocabulary head twice); here the placeholder is 1 x 1."""
    observer = qconfig.weight()
    if observer.qscheme not in (torch.per_channel_symmetric, torch.per_channel_affine):  # not ours: torch's way
        layer.qconfig = qconfig
        return torch.ao.nn.quantized.dynamic.Linear.from_float(layer)
    observer(layer.weight)
    scales, zero_points = observer.calculate_qparams()
    weight = torch.quantize_per_channel(layer.weight.float(), scales.to(torch.double), zero_points.to(torch.int64),
                                        observer.ch_axis, torch.qint8)
    quantized = torch.ao.nn.quantized.dynamic.Linear(1, 1)
    quantized.in_features, quantized.out_features = layer.in_features, layer.out_features
    quantized.set_weight_bias(weight, layer.bias)
    return quantized


def _linear_only_weights(module: torch.nn.Module) -> set[int]:
    """Ids of the Linear weights that no other kind of layer uses (a tied decoder shares the embeddings')."""
    linear = {id(m.weight) for m in module.modules() if isinstance(m, torch.nn.Linear)}
    other = {id(p) for m in module.modules() if not isinstance(m, torch.nn.Linear) for p in m.parameters(recurse=False)}
    return linear - other


def _clone_tensors(module: torch.nn.Module, keep: Collection[int] = (), dtype: torch.dtype | None = None,
                   release: Releaser | None = None) -> None:
    """Give every parameter and buffer of `module` its own memory, except those whose id is in `keep`.

    With `dtype`, floating-point tensors are converted to it; `release(original)` after each copy.
    Tied tensors stay tied (one clone each)."""
    clones: dict[int, torch.Tensor] = {id(t): t for t in [*module.parameters(), *module.buffers()] if id(t) in keep}

    def own(tensor: torch.Tensor, as_parameter: bool) -> torch.Tensor:
        if id(tensor) not in clones:
            convert = dtype is not None and tensor.is_floating_point()
            copied = tensor.detach().to(dtype, copy=True) if convert else tensor.detach().clone()
            clones[id(tensor)] = torch.nn.Parameter(copied, requires_grad=False) if as_parameter else copied
            if release is not None:
                release(tensor)
        return clones[id(tensor)]

    for sub in module.modules():
        for name, param in sub._parameters.items():
            if param is not None:
                sub._parameters[name] = own(param, as_parameter=True)  # type: ignore[assignment]
        for name, buffer in sub._buffers.items():
            if buffer is not None:
                sub._buffers[name] = own(buffer, as_parameter=False)


def bf16_copy(model: torch.nn.Module, share_tensors: bool = True) -> torch.nn.Module:
    """A copy of `model` whose floating-point weights and buffers are bfloat16; `model` is untouched.

    bf16 keeps fp32's exponent range with an 8-bit mantissa (Kalamkar et al. 2019, "A Study of BFLOAT16 for Deep
    Learning Training"). The whole forward pass then runs in bf16 on the CPU's native kernels (oneDNN, AMX where
    present): unlike `torch.autocast`, no weight is cast again at every call (benchmarks/bench_encode.py).
    `share_tensors=False` is for a `model` that will be dropped afterwards: each fp32 tensor's memory-mapped pages
    are given back once its bf16 version exists, as in `quantized_copy`.
    """
    shared = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    skeleton = copy.deepcopy(model, memo=shared)
    _clone_tensors(skeleton, dtype=torch.bfloat16, release=None if share_tensors else page_releaser())
    return skeleton.eval()


def bf16_is_native() -> bool:
    """True when a bfloat16 Linear layer runs here on native bf16 kernels (avx512_bf16 or AMX).

    Without them oneDNN emulates bf16: about 5x slower than fp32 (benchmarks/bench_encode.py).
    """
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
        with torch.inference_mode():
            out = torch.nn.functional.linear(torch.ones(2, 4, dtype=torch.bfloat16), torch.ones(3, 4, dtype=torch.bfloat16))
        return out.dtype == torch.bfloat16
    except (RuntimeError, TypeError, AttributeError):
        return False
