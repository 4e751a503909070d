"""Training-time data augmentation for :class:`~metanas.evaluation.train.TrainEvaluator`.

An augmentation policy is a callable ``policy(x, generator) -> x'`` on one training batch: ``x``
is a float tensor ``(batch, *input_shape)`` on the training device, ``generator`` a CPU
``torch.Generator`` the evaluator seeds from the network's training seed (so the same seed
gives the same augmented batches), and ``x'`` a tensor of the same shape. The evaluator
applies it to the training batches only, never to the validation or test split.

Built-in policies (``available("augment")``):

* ``"specaugment"``: for sequence features ``(batch, channels, frames)`` such as log-mel
  spectrograms or MFCCs (Park et al. 2019, *SpecAugment*): a random time shift of up to 10 % of
  the frames (the edge frames repeat), then two frequency masks of up to 15 % of the channels
  and two time masks of up to 10 % of the frames, set to 0 (the training mean of standardised
  features).
* ``"specaugment-vtlp"``: ``"specaugment"`` and a random shift of the channels by up to 5 %
  of them either way (2 of 40 mel bands), which on log-mel features approximates another
  speaker's vocal-tract length (VTLP); for log-mel spectrograms, not MFCCs.
* ``"shift"``: for images ``(batch, channels, height, width)``: a random translation of up to
  10 % of each side (edge pixels repeat), as in the usual pad-and-crop recipe.
* ``"shift-flip"``: ``"shift"`` and a horizontal flip of half the images (Fashion-MNIST,
  CIFAR; not for digits or text, whose mirror image is another class or none).

Register your own with :func:`register_augment`; the evaluator stores a policy by its name,
so a study that records its settings (export, resumed studies) rebuilds the same training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metanas._registry import Registry

if TYPE_CHECKING:
    import torch

__all__ = [
    "AUGMENTS",
    "ImageShift",
    "SpecAugment",
    "augment_name",
    "check_augment",
    "register_augment",
    "resolve_augment",
]

#: A policy: a training batch and a seeded CPU generator -> the augmented batch (same shape).
AugmentPolicy = Callable[["torch.Tensor", "torch.Generator"], "torch.Tensor"]


def _check_policy(obj: Any) -> None:
    if not callable(obj):
        raise TypeError(
            f"An augmentation policy must be callable as policy(batch, generator); got {obj!r}."
        )


AUGMENTS: Registry[AugmentPolicy] = Registry(
    "augment",
    label="augmentation policy",
    builtins="metanas.evaluation.augment",
    check=_check_policy,
    fix=(
        "Register your own with metanas.register_augment('name')(policy), or pass a callable "
        "policy(batch, generator) -> batch."
    ),
)


def register_augment(name: str) -> Callable[[AugmentPolicy], AugmentPolicy]:
    """Decorator (or call on an instance): make ``policy`` available as ``augment=name``.

    ``register_augment("specaugment-strong")(SpecAugment(time_masks=3))`` registers a
    stronger SpecAugment; the built-ins are registered the same way.

    Examples
    --------
    >>> from metanas import available
    >>> "specaugment" in available("augment")
    True
    """
    return AUGMENTS.register(name)


def _fraction(name: str, value: float, high: float = 0.5) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise ValueError(f"{name} must be a fraction in [0, {high}]; got {value!r}.")
    return float(value)


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise ValueError(f"{name} must be an int in [0, 10]; got {value!r}.")
    return value


def _uniform_ints(gen: torch.Generator, highs: torch.Tensor) -> torch.Tensor:
    """One int in ``[0, high]`` per entry of ``highs`` (int64, CPU), from ``gen``."""
    import torch

    u = torch.rand(highs.shape, generator=gen)
    return torch.minimum((u * (highs + 1).to(u.dtype)).long(), highs)


def _shift_index(
    gen: torch.Generator, n: int, length: int, max_shift: int, device: torch.device
) -> torch.Tensor:
    """Per-sample source positions ``(n, length)`` of a random shift, edges repeated."""
    import torch

    shift = _uniform_ints(gen, torch.full((n,), 2 * max_shift)) - max_shift
    pos = torch.arange(length)[None, :] - shift[:, None]
    return pos.clamp_(0, length - 1).to(device)


def _masks(
    gen: torch.Generator, n: int, length: int, count: int, max_width: int, device: torch.device
) -> torch.Tensor:
    """``(n, length)`` bool: ``count`` random spans of 0..``max_width`` positions per sample."""
    import torch

    keep = torch.zeros((n, length), dtype=torch.bool)
    pos = torch.arange(length)[None, :]
    for _ in range(count):
        width = _uniform_ints(gen, torch.full((n,), max_width))
        start = _uniform_ints(gen, (length - width).clamp_(min=0))
        keep |= (pos >= start[:, None]) & (pos < (start + width)[:, None])
    return keep.to(device)


@dataclass(frozen=True)
class SpecAugment:
    """Random time shift, then frequency and time masking of ``(batch, channels, frames)``.

    Parameters
    ----------
    freq_masks, freq_width
        Masks over the channels (mel bands) per example, each 0..``freq_width`` of them wide
        (a fraction of the channels).
    time_masks, time_width
        Masks over the frames per example, each 0..``time_width`` of them wide.
    shift
        A shift in time by up to this fraction of the frames, either way; the first or last
        frame fills the gap.
    freq_shift
        A shift of the channels by up to this fraction of them, either way (edge channels
        repeat); on log-mel features it approximates a change of the speaker's vocal-tract
        length (VTLP, Jaitly and Hinton 2013), since the mel scale is close to logarithmic
        above 1 kHz. Off (0) by default: it makes no sense for MFCCs.
    """

    freq_masks: int = 2
    freq_width: float = 0.15
    time_masks: int = 2
    time_width: float = 0.1
    shift: float = 0.1
    freq_shift: float = 0.0

    def __post_init__(self) -> None:
        _fraction("freq_shift", self.freq_shift)
        _count("freq_masks", self.freq_masks)
        _count("time_masks", self.time_masks)
        _fraction("freq_width", self.freq_width)
        _fraction("time_width", self.time_width)
        _fraction("shift", self.shift)

    def check_shape(self, input_shape: Sequence[int]) -> None:
        """Raise ``ValueError`` unless examples are ``(channels, frames)``."""
        if len(input_shape) != 2:
            raise ValueError(
                f"'specaugment' augments sequence features (channels, frames); the task's "
                f"examples have shape {tuple(input_shape)}. Use augment='shift' or "
                "'shift-flip' for images, or augment=None."
            )

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        import torch

        n, channels, frames = x.shape
        if self.shift > 0:
            idx = _shift_index(generator, n, frames, int(self.shift * frames), x.device)
            x = torch.gather(x, 2, idx[:, None, :].expand(n, channels, frames))
        if self.freq_shift > 0:
            idx = _shift_index(generator, n, channels, int(self.freq_shift * channels), x.device)
            x = torch.gather(x, 1, idx[:, :, None].expand(n, channels, frames))
        masked = (
            _masks(
                generator, n, channels, self.freq_masks, int(self.freq_width * channels), x.device
            )[:, :, None]
            | _masks(
                generator, n, frames, self.time_masks, int(self.time_width * frames), x.device
            )[:, None, :]
        )
        return x.masked_fill(masked, 0.0)


@dataclass(frozen=True)
class ImageShift:
    """Random translation of ``(batch, channels, height, width)`` images, optional mirror.

    Parameters
    ----------
    shift
        Up to this fraction of the height (and width) either way; edge pixels fill the gap.
    flip
        Also mirror half the images left-right.
    """

    shift: float = 0.1
    flip: bool = False

    def __post_init__(self) -> None:
        _fraction("shift", self.shift)
        if not isinstance(self.flip, bool):
            raise ValueError(f"flip must be True or False; got {self.flip!r}.")

    def check_shape(self, input_shape: Sequence[int]) -> None:
        """Raise ``ValueError`` unless examples are ``(channels, height, width)``."""
        if len(input_shape) != 3:
            raise ValueError(
                f"Image augmentation needs examples of shape (channels, height, width); the "
                f"task's have shape {tuple(input_shape)}. Use augment='specaugment' for "
                "sequence features, or augment=None."
            )

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        import torch

        n, channels, height, width = x.shape
        rows = _shift_index(generator, n, height, int(self.shift * height), x.device)
        cols = _shift_index(generator, n, width, int(self.shift * width), x.device)
        if self.flip:
            mirror = (torch.rand(n, generator=generator) < 0.5).to(x.device)
            cols = torch.where(mirror[:, None], cols.flip(1), cols)
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chan = torch.arange(channels, device=x.device)[None, :, None, None]
        return x[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


register_augment("specaugment")(SpecAugment())
register_augment("specaugment-vtlp")(SpecAugment(freq_shift=0.05))
register_augment("shift")(ImageShift())
register_augment("shift-flip")(ImageShift(flip=True))


def augment_name(policy: object) -> str | None:
    """The name ``policy`` is registered under (the object itself), or None."""
    for name in AUGMENTS.names():
        if AUGMENTS.get(name) is policy:
            return name
    return None


def resolve_augment(augment: str | AugmentPolicy) -> tuple[str, AugmentPolicy]:
    """``(name, policy)`` of a registered name or a registered policy object.

    Raises
    ------
    UnknownNameError
        An unknown name (the closest is suggested).
    ValueError
        A callable that is not registered: the evaluator could not store it in a study's
        settings.
    """
    if isinstance(augment, str):
        return augment, AUGMENTS.get(augment)
    if not callable(augment):
        raise ValueError(
            f"augment must be None, a registered name ({', '.join(AUGMENTS.names())}) or a "
            f"registered policy(batch, generator); got {augment!r}."
        )
    name = augment_name(augment)
    if name is None:
        raise ValueError(
            f"The augmentation policy {augment!r} is not registered, so a study could not "
            "store it with its settings. Register it first: "
            "metanas.register_augment('my-policy')(policy), then pass augment='my-policy' "
            "(or the policy)."
        )
    return name, augment


def check_augment(policy: AugmentPolicy, name: str, input_shape: Sequence[int]) -> None:
    """Run ``policy`` once on a zero batch of ``input_shape``; a shape error names the fix."""
    import torch

    check = getattr(policy, "check_shape", None)
    if callable(check):
        check(tuple(input_shape))
    x = torch.zeros((2, *input_shape))
    out = policy(x, torch.Generator().manual_seed(0))
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(x.shape):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"The augmentation policy {name!r} must return a tensor of its input's shape "
            f"{tuple(x.shape)}; got {got}. Fix the policy, or pass augment=None."
        )
