"""Omniglot-like glyphs: characters of many writing systems rendered from Hershey stroke data.

Omniglot (Lake et al., 2015) is 1,623 characters of 50 alphabets, each drawn once by 20
people. It cannot be installed offline from PyPI or Debian, so this module builds the closest
offline source: the stroke (vector) data of the Hershey fonts (PyPI package ``Hershey-Fonts``:
Latin in several styles, Greek, Cyrillic, Japanese kana and kanji, astrological, musical,
meteorological and other symbols). A *class* is one glyph of one font; each of ``n_drawers``
simulated "drawers" draws every class once, with a style of their own (slant, aspect, rotation,
stroke width) plus per-drawing noise (a smooth random warp of the strokes, vertex jitter,
offset). Stroke data can be distorted the way a hand distorts a pen path; Debian's
``fonts-noto-*`` cover more scripts, but a font renders one bitmap per character, which only
image-level distortions can vary.

Classes are grouped into *split units* so that no near-duplicate crosses a split: the same
letter of one script in several fonts is one unit, and classes whose clean renderings are
alike (Latin ``A``, Greek ``Alpha``, Cyrillic ``A``) are joined into one unit too; a class
nearly identical to one already kept is dropped. :func:`split_classes` draws whole units.

The rendered arrays are cached under ``$XDG_DATA_HOME/metanas`` (``~/.local/share/metanas``)
in a file whose name carries :data:`GLYPHS_VERSION` and the settings, so a change of the
renderer never reads a stale cache.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["GLYPH_FONTS", "GLYPHS_VERSION", "GlyphArrays", "glyph_arrays"]

#: Bumped whenever the class list or the renderer changes (it names the cache file).
GLYPHS_VERSION = 1

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: Fonts used, with their script, and whether only the letter positions are taken (the digits
#: and punctuation of the alphabetic fonts repeat across fonts). Latin fonts that are
#: near-copies of another (``rowmans`` of ``futural`` ...) are left out.
GLYPH_FONTS: tuple[tuple[str, str, bool], ...] = (
    ("futural", "latin", True),
    ("timesr", "latin", True),
    ("timesi", "latin", True),
    ("scripts", "latin", True),
    ("gothiceng", "latin", True),
    ("gothicger", "latin", True),
    ("greek", "greek", True),
    ("timesg", "greek", True),
    ("cyrillic", "cyrillic", True),
    ("japanese", "japanese", False),
    ("astrology", "astrology", False),
    ("markers", "markers", False),
    ("meteorology", "meteorology", False),
    ("music", "music", False),
    ("symbolic", "symbolic", False),
)
_DUPLICATE = 0.93  # cosine similarity of clean renderings: the same glyph, dropped
_ALIKE = 0.90  # alike enough to share a split unit


@dataclass(frozen=True, eq=False)
class GlyphArrays:
    """Rendered glyphs: ``X (n, 1, size, size)`` float32 in [0, 1], labels ``y``.

    ``names[c]`` is ``"font/character"`` of class ``c`` and ``units[c]`` its split unit.
    """

    X: np.ndarray
    y: np.ndarray
    names: tuple[str, ...]
    units: tuple[int, ...]


def _strokes() -> list[tuple[str, str, str, list[np.ndarray]]]:
    try:
        from HersheyFonts import HersheyFonts
    except ImportError as exc:
        raise ImportError(
            "The glyphs data set needs the Hershey-Fonts package: pip install Hershey-Fonts "
            '(or pip install "metanas[torch]").'
        ) from exc
    font = HersheyFonts()
    out: list[tuple[str, str, str, list[np.ndarray]]] = []
    for name, script, letters_only in GLYPH_FONTS:
        font.load_default_font(name)
        glyphs = font.all_glyphs
        for ch in sorted(glyphs):
            if letters_only and ch not in _LETTERS:
                continue
            strokes = [np.asarray(s, dtype=np.float64) for s in glyphs[ch].strokes if len(s) > 0]
            if not strokes or sum(len(s) for s in strokes) < 2:
                continue
            out.append((name, script, ch, strokes))
    return out


def _normalise(strokes: list[np.ndarray]) -> list[np.ndarray]:
    """Centre the glyph and scale its larger side to 1 (y down, as in the data)."""
    pts = np.concatenate(strokes)
    lo, hi = pts.min(0), pts.max(0)
    scale = max(float((hi - lo).max()), 1e-6)
    centre = (lo + hi) / 2
    return [(s - centre) / scale for s in strokes]


def _segments(strokes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Start and end points ``(m, 2)`` of every segment (a lone point is a zero segment)."""
    a, b = [], []
    for s in strokes:
        if len(s) == 1:
            a.append(s)
            b.append(s)
        else:
            a.append(s[:-1])
            b.append(s[1:])
    return np.concatenate(a), np.concatenate(b)


def _raster(a: np.ndarray, b: np.ndarray, width: np.ndarray, size: int) -> np.ndarray:
    """Anti-aliased strokes: ``a, b (k, m, 2)`` in pixel units, ``width (k,)`` -> ``(k, s, s)``.

    A pixel's ink is 1 inside half the stroke width of the nearest segment, fading linearly
    to 0 over one pixel.
    """
    g = np.arange(size, dtype=np.float64) + 0.5
    P = np.stack(np.meshgrid(g, g, indexing="xy"), -1).reshape(1, -1, 1, 2)  # (1, s*s, 1, 2)
    A, B = a[:, None], b[:, None]  # (k, 1, m, 2)
    d = B - A
    t = np.clip(((P - A) * d).sum(-1) / np.maximum((d * d).sum(-1), 1e-12), 0.0, 1.0)
    dist = np.sqrt((((A + t[..., None] * d) - P) ** 2).sum(-1)).min(-1)  # (k, s*s)
    ink = np.clip(width[:, None] / 2 + 0.5 - dist, 0.0, 1.0)
    return np.asarray(ink.reshape(-1, size, size))


def _render_class(
    strokes: list[np.ndarray], size: int, styles: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One drawing per drawer: ``styles (k, 5)`` = slant, log-aspect, rotation, width, size."""
    k = len(styles)
    a0, b0 = _segments(strokes)

    def warp(p: np.ndarray, field: np.ndarray) -> np.ndarray:
        # a smooth random displacement: two sinusoids per axis with random phase and direction
        out = p.copy()
        for j in range(2):
            amp, fx, fy, ph = field[:, j, 0], field[:, j, 1], field[:, j, 2], field[:, j, 3]
            arg = 2 * math.pi * (fx[:, None] * p[..., 0] + fy[:, None] * p[..., 1]) + ph[:, None]
            out[..., j] += amp[:, None] * np.sin(arg)
        return out

    field = np.stack(
        [
            rng.normal(0, 0.05, (k, 2)),
            rng.uniform(-1.2, 1.2, (k, 2)),
            rng.uniform(-1.2, 1.2, (k, 2)),
            rng.uniform(0, 2 * math.pi, (k, 2)),
        ],
        -1,
    )  # (k, 2 axes, 4)
    pa = warp(np.broadcast_to(a0, (k, *a0.shape)), field)
    pb = warp(np.broadcast_to(b0, (k, *b0.shape)), field)
    # vertex jitter: the same noise for a vertex shared by consecutive segments is not kept,
    # which a pen's tremor does not keep either
    pa = pa + rng.normal(0, 0.02, pa.shape)
    pb = pb + rng.normal(0, 0.02, pb.shape)
    slant, log_aspect, rot, width, scale = styles.T
    rot = rot + rng.normal(0, 0.1, k)
    cos, sin = np.cos(rot), np.sin(rot)
    sx, sy = np.exp(log_aspect / 2), np.exp(-log_aspect / 2)
    # affine: scale, slant (shear), rotation, per drawing
    M = np.empty((k, 2, 2))
    M[:, 0, 0] = cos * sx
    M[:, 0, 1] = cos * slant * sy - sin * sy
    M[:, 1, 0] = sin * sx
    M[:, 1, 1] = sin * slant * sy + cos * sy
    offset = rng.normal(0, 0.05, (k, 1, 2))
    fill = 0.72 * scale * size

    def place(p: np.ndarray) -> np.ndarray:
        q = np.einsum("kij,kmj->kmi", M, p) + offset
        return np.asarray(q * fill[:, None, None] + size / 2)

    return _raster(place(pa), place(pb), width * size / 28, size)


def _drawer_styles(n_drawers: int, rng: np.random.Generator) -> np.ndarray:
    return np.stack(
        [
            rng.normal(0, 0.2, n_drawers),  # slant
            rng.normal(0, 0.15, n_drawers),  # log aspect ratio
            rng.normal(0, 0.08, n_drawers),  # rotation (radians)
            rng.uniform(1.2, 2.4, n_drawers),  # stroke width (pixels at 28 x 28)
            rng.uniform(0.85, 1.1, n_drawers),  # size
        ],
        -1,
    )


def _units(
    items: list[tuple[str, str, str, list[np.ndarray]]],
) -> tuple[list[int], list[int]]:
    """Kept class indices and their split units (see the module docstring)."""
    vecs = []
    for _, _, _, strokes in items:
        a, b = _segments([s * 0.8 * 16 + 8 for s in _normalise(strokes)])
        img = _raster(a[None], b[None], np.array([2.5]), 16)[0]
        v = img.ravel() - img.mean()
        vecs.append(v / max(float(np.linalg.norm(v)), 1e-9))
    V = np.stack(vecs)
    sim = V @ V.T
    keep: list[int] = []
    for i in range(len(items)):
        if all(sim[i, j] < _DUPLICATE for j in keep):
            keep.append(i)
    parent = {i: i for i in keep}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[str, str], int] = {}
    for i in keep:
        key = (items[i][1], items[i][2])
        if key in first:
            parent[root(i)] = root(first[key])
        else:
            first[key] = i
    for n, i in enumerate(keep):
        for j in keep[:n]:
            if sim[i, j] >= _ALIKE:
                parent[root(i)] = root(j)
    roots: dict[int, int] = {}
    units = [roots.setdefault(root(i), len(roots)) for i in keep]
    return keep, units


def _cache_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "metanas"


@functools.lru_cache(maxsize=4)
def glyph_arrays(size: int = 28, n_drawers: int = 20, seed: int = 0) -> GlyphArrays:
    """Render (or read from the cache) every glyph class, ``n_drawers`` drawings each.

    Parameters
    ----------
    size
        Side of the square images in pixels (>= 8).
    n_drawers
        Drawings per class (Omniglot has 20).
    seed
        Seed of the drawers' styles and of the noise of every drawing.

    Returns
    -------
    GlyphArrays
        Read-only arrays; the same for the same arguments in every process.

    Raises
    ------
    ImportError
        The Hershey-Fonts package is missing.
    """
    path = _cache_dir() / f"glyphs-v{GLYPHS_VERSION}-{size}px-{n_drawers}d-s{seed}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            X, y = z["X"], z["y"]
            names = tuple(str(n) for n in z["names"])
            units = tuple(int(u) for u in z["units"])
    else:
        items = _strokes()
        keep, unit_list = _units(items)
        rng = np.random.default_rng(seed)
        styles = _drawer_styles(n_drawers, rng)
        children = rng.spawn(len(keep))
        images = [
            _render_class(_normalise(items[i][3]), size, styles, children[c])
            for c, i in enumerate(keep)
        ]
        X = np.concatenate(images).astype(np.float32)[:, None]
        y = np.repeat(np.arange(len(keep), dtype=np.int64), n_drawers)
        names = tuple(f"{items[i][0]}/{items[i][2]}" for i in keep)
        units = tuple(unit_list)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, X=X, y=y, names=np.array(names), units=np.array(units))
        os.replace(tmp, path)  # atomic: a parallel reader sees the whole file or none
    X.flags.writeable = False
    y.flags.writeable = False
    return GlyphArrays(X, y, names, units)
