"""Operations shared by the trainable spaces and (later) one-shot supernets.

Every operation is built by one factory with the same signature::

    OPS[name](c_in, c_out, stride, dims, act="relu", norm="batch") -> nn.Module

``dims`` is 1 (sequences, ``(n, C, L)``) or 2 (images, ``(n, C, H, W)``);
``stride`` is an int or a per-dimension tuple. With the paddings used here an
operation maps a length ``L`` to ``ceil(L / stride)``, so every operation of
the table is interchangeable on an edge, which a DARTS mixed operation or an
ENAS supernet needs: ``sum(w[k] * OPS[k](c_in, c_out, s, d)(x) for k ...)``.

Two families live in the table:

* the macro (chain) operations of :class:`~metanas.spaces.CNNSpace`, which
  apply ``conv -> norm -> act``: ``conv3``, ``conv5``, ``conv7``,
  ``dil_conv3`` (dilation 2), ``sep_conv5`` (depthwise-separable),
  ``max_pool``, ``avg_pool``, ``identity``;
* the NAS-Bench-201 cell operations, which apply ``act -> conv -> norm`` as in
  the paper: ``none``, ``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3``,
  ``avg_pool_3x3``.

Pooling, identity and skip operations keep the channel count when
``c_in == c_out``; otherwise (and for identity with a stride) a 1x1
convolution projects them, so they still fit any edge.

This module imports torch; import it only where torch is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from metanas.models._names import CELL_OPS, CHAIN_OPS

__all__ = [
    "ACTIVATIONS",
    "CELL_OPS",
    "CHAIN_OPS",
    "NORMS",
    "OPS",
    "OpFactory",
    "Projection",
    "Zero",
    "conv_block",
    "conv_out_size",
    "make_activation",
    "make_norm",
]

Stride = int | tuple[int, ...]
OpFactory = Callable[..., nn.Module]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}
NORMS = ("batch", "none")


def make_activation(name: str) -> nn.Module:
    """A fresh activation module called ``name`` (relu, gelu, silu, tanh)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"Unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)!r}."
        ) from None


def make_norm(name: str, channels: int, dims: int) -> nn.Module:
    """A norm over ``channels`` for ``dims``-D maps: ``"batch"``, ``"group"`` or ``"none"``.

    ``"group"`` (GroupNorm with up to 4 groups) has no running statistics, so a
    network behaves the same on one small batch as on many: the few-shot
    learners use it, where a task's support set is the whole batch. It is not
    a choice of the ``cnn`` space (:data:`NORMS`).
    """
    if name == "none":
        return nn.Identity()
    if name == "batch":
        return nn.BatchNorm1d(channels) if dims == 1 else nn.BatchNorm2d(channels)
    if name == "group":
        return nn.GroupNorm(math.gcd(channels, 4), channels)
    raise ValueError(
        f"Unknown norm {name!r} for a convolution; choose one of {[*NORMS, 'group']!r}."
    )


def _conv(dims: int) -> type[nn.Conv1d] | type[nn.Conv2d]:
    if dims == 1:
        return nn.Conv1d
    if dims == 2:
        return nn.Conv2d
    raise ValueError(f"dims must be 1 (sequences) or 2 (images); got {dims!r}.")


def _tuple(stride: Stride, dims: int) -> Any:
    if isinstance(stride, int):
        return (stride,) * dims
    out = tuple(int(s) for s in stride)
    if len(out) != dims:
        raise ValueError(f"stride {stride!r} needs {dims} entries for {dims}-D maps.")
    return out


def conv_out_size(size: Sequence[int], stride: Stride) -> tuple[int, ...]:
    """Spatial size after any operation of the table: ``ceil(size / stride)`` per dimension."""
    s = _tuple(stride, len(size))
    return tuple(-(-int(n) // k) for n, k in zip(size, s, strict=True))


class Zero(nn.Module):
    """The ``none`` operation: zeros of the output's shape (channels ``c_out``, strided size)."""

    def __init__(self, c_out: int, stride: tuple[int, ...]) -> None:
        super().__init__()
        self.c_out = c_out
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = (slice(None), slice(None), *(slice(None, None, s) for s in self.stride))
        y = x[index]
        if self.c_out == x.shape[1]:
            return y.mul(0.0)
        shape = (y.shape[0], self.c_out, *y.shape[2:])
        return y.new_zeros(shape)


class Projection(nn.Sequential):
    """1x1 convolution with a stride, then a norm: matches shapes for skips and pools."""

    def __init__(self, c_in: int, c_out: int, stride: Stride, dims: int, norm: str = "batch"):
        conv = _conv(dims)(c_in, c_out, 1, stride=_tuple(stride, dims), bias=norm == "none")
        super().__init__(conv, make_norm(norm, c_out, dims))


def conv_block(
    c_in: int,
    c_out: int,
    stride: Stride,
    dims: int,
    *,
    kernel: int,
    dilation: int = 1,
    act: str = "relu",
    norm: str = "batch",
    pre_act: bool = False,
) -> nn.Module:
    """Convolution, norm, activation; with ``pre_act``: activation, convolution, norm.

    Same padding (``dilation * (kernel - 1) // 2``), so only ``stride`` changes
    the spatial size. The convolution has a bias only without a norm.
    """
    pad = dilation * (kernel - 1) // 2
    conv = _conv(dims)(
        c_in,
        c_out,
        kernel,
        stride=_tuple(stride, dims),
        padding=pad,
        dilation=dilation,
        bias=norm == "none",
    )
    if pre_act:
        return nn.Sequential(make_activation(act), conv, make_norm(norm, c_out, dims))
    return nn.Sequential(conv, make_norm(norm, c_out, dims), make_activation(act))


def _sep_conv(
    c_in: int,
    c_out: int,
    stride: Stride,
    dims: int,
    *,
    kernel: int,
    act: str = "relu",
    norm: str = "batch",
) -> nn.Module:
    conv = _conv(dims)
    return nn.Sequential(
        conv(
            c_in,
            c_in,
            kernel,
            stride=_tuple(stride, dims),
            padding=kernel // 2,
            groups=c_in,
            bias=False,
        ),
        conv(c_in, c_out, 1, bias=norm == "none"),
        make_norm(norm, c_out, dims),
        make_activation(act),
    )


def _pool(
    c_in: int,
    c_out: int,
    stride: Stride,
    dims: int,
    *,
    kind: str,
    norm: str = "batch",
) -> nn.Module:
    s = _tuple(stride, dims)
    pool: nn.Module
    if kind == "max":
        pool = (nn.MaxPool1d if dims == 1 else nn.MaxPool2d)(3, stride=s, padding=1)
    else:
        cls = nn.AvgPool1d if dims == 1 else nn.AvgPool2d
        pool = cls(3, stride=s, padding=1, count_include_pad=False)
    if c_in == c_out:
        return pool
    return nn.Sequential(pool, Projection(c_in, c_out, 1, dims, norm))


def _identity(
    c_in: int, c_out: int, stride: Stride, dims: int, *, norm: str = "batch"
) -> nn.Module:
    if c_in == c_out and all(k == 1 for k in _tuple(stride, dims)):
        return nn.Identity()
    return Projection(c_in, c_out, stride, dims, norm)


def _op(fn: Callable[..., nn.Module], *, uses_act: bool = True, **fixed: object) -> OpFactory:
    def factory(
        c_in: int, c_out: int, stride: Stride, dims: int, act: str = "relu", norm: str = "batch"
    ) -> nn.Module:
        if uses_act:
            return fn(c_in, c_out, stride, dims, act=act, norm=norm, **fixed)
        return fn(c_in, c_out, stride, dims, norm=norm, **fixed)

    return factory


def _zero(
    c_in: int, c_out: int, stride: Stride, dims: int, act: str = "relu", norm: str = "batch"
) -> nn.Module:
    return Zero(c_out, _tuple(stride, dims))


#: ``name -> factory(c_in, c_out, stride, dims, act="relu", norm="batch")``.
OPS: dict[str, OpFactory] = {
    "conv3": _op(conv_block, kernel=3),
    "conv5": _op(conv_block, kernel=5),
    "conv7": _op(conv_block, kernel=7),
    "dil_conv3": _op(conv_block, kernel=3, dilation=2),
    "sep_conv5": _op(_sep_conv, kernel=5),
    "max_pool": _op(_pool, uses_act=False, kind="max"),
    "avg_pool": _op(_pool, uses_act=False, kind="avg"),
    "identity": _op(_identity, uses_act=False),
    "none": _zero,
    "skip_connect": _op(_identity, uses_act=False),
    "nor_conv_1x1": _op(conv_block, kernel=1, pre_act=True),
    "nor_conv_3x3": _op(conv_block, kernel=3, pre_act=True),
    "avg_pool_3x3": _op(_pool, uses_act=False, kind="avg"),
}
