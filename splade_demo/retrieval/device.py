"""Where SPLADE encodes documents: the CPU (default) or a CUDA GPU when torch has one."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, get_args

from splade_demo.models.loading import LoadedMLM
from splade_demo.retrieval.splade_encoder import SpladeEncoder

Device = Literal["cpu", "cuda"]
DEVICES: tuple[str, ...] = get_args(Device)


def check_device(device: str, precision: str) -> Device:
    """Validate `device`; ValueError when cuda is asked for and torch has none, or for a CPU-only precision."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"--device cuda: this torch ({torch.__version__}) sees no CUDA GPU; "
                             "encode on the CPU (--device cpu) or install a CUDA build of torch")
        if precision != "fp32":
            raise ValueError(f"--device cuda encodes in fp32 ({precision} here is a CPU path): "
                             "set SPLADE_DEMO_PRECISION=fp32")
    return device  # type: ignore[return-value]


class DeviceSpladeEncoder(SpladeEncoder):
    """A SpladeEncoder whose model runs on `device`: batches go there, logits come back to the CPU.

    The model is moved in place, so `loaded` must belong to this encoder alone (owns_model)."""

    def __init__(self, loaded: LoadedMLM, device: Device, **kwargs: Any) -> None:
        self.device = device
        super().__init__(dataclasses.replace(loaded, model=loaded.model.to(device)), **kwargs)

    def _logits(self, batch: Any) -> Any:
        return super()._logits({key: value.to(self.device) for key, value in batch.items()}).cpu()


def make_encoder(loaded: LoadedMLM, precision: str, device: str = "cpu") -> SpladeEncoder:
    """The SPLADE encoder for `device` (validated by `check_device`)."""
    if check_device(device, precision) == "cpu":
        return SpladeEncoder(loaded, precision=precision, owns_model=True)  # type: ignore[arg-type]
    return DeviceSpladeEncoder(loaded, "cuda", precision="fp32", owns_model=True)
