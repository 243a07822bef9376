"""Procedural CamVid-like street scenes: numpy rendering of one frame and its class mask.

A scene is a pinhole camera one unit (about 1.5 m) above a flat street. Ground pixels get a lateral
position X and depth Z, facades are vertical planes beside the pavement, and objects stand on the
ground at (X, Z), so size, position and colour all carry class information a network can learn.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.data.sources.scene_parts import (
    BUILDING,
    FENCE,
    LANE,
    ROAD,
    ROLES,
    SIDEWALK,
    SKY,
    TREE,
    VOID,
    Canvas,
    place_objects,
    role_classes,
)
from camseg_cli.core.errors import CamsegError

# Base colour and texture (noise std: fine grain, blotches) per role; each image jitters the colours.
BASE = np.array(
    [[205, 210, 220], [150, 120, 100], [100, 95, 108], [165, 155, 140], [235, 235, 225], [70, 105, 45],
     [120, 120, 115], [200, 40, 40], [35, 35, 35], [125, 100, 75], [100, 100, 110], [90, 80, 90],
     [90, 80, 100], [30, 30, 30]], np.float32)  # fmt: skip
# GRAIN is scaled by sqrt(12) because it multiplies uniform noise in [-0.5, 0.5).
GRAIN = np.array([2, 6, 9, 7, 5, 32, 4, 3, 3, 9, 4, 6, 6, 16], np.float32) * np.float32(12**0.5)
BLOTCH = np.array([9, 10, 8, 8, 5, 18, 3, 2, 2, 6, 3, 4, 4, 10], np.float32)
FACADES = np.array([[150, 75, 55], [190, 170, 140], [135, 135, 140], [210, 205, 195], [110, 80, 60],
                    [170, 150, 120]], np.float32)  # fmt: skip
DARK_FRACTION = 0.15  # share of frames rendered at night/dusk (mean luminance well under 40)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# Background materials beyond the roles' own colours, and the role each material belongs to.
GLASS, LIT, SEAM, KERB, SLAT = range(len(ROLES), len(ROLES) + 5)
MATERIAL_ROLE = np.array([*range(len(ROLES)), BUILDING, BUILDING, SIDEWALK, SIDEWALK, FENCE])


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int = 12) -> np.ndarray:
    """Unit-variance-ish blotchy noise: a coarse random grid resized bilinearly (in C, by PIL)."""
    small = rng.standard_normal((h // cell + 2, w // cell + 2)).astype(np.float32)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR))


def _street(rng: np.random.Generator) -> dict:
    """Street layout in camera-height units: road edges, pavements, lane lines, colours, extras."""
    road_l, road_r = -rng.uniform(1.2, 3.0), rng.uniform(2.0, 5.0)
    lanes = [(rng.uniform(0.8, min(1.6, road_r - 0.8)), rng.random() < 0.7)]
    if rng.random() < 0.5:
        lanes += [(road_l + 0.2, False), (road_r - 0.2, False)]
    palette = BASE * rng.uniform(0.85, 1.15, (len(BASE), 1)) + rng.normal(0, 6, BASE.shape)
    tops = np.array([[105, 150, 215], [200, 205, 215], [165, 180, 205]], np.float32)
    z0 = rng.uniform(3, 20)
    return {
        "road_l": road_l,
        "road_r": road_r,
        "walk_l": rng.uniform(1.0, 3.0),
        "walk_r": rng.uniform(1.0, 3.0),
        "z_end": rng.uniform(25, 80),
        "lanes": lanes,
        "dash": rng.uniform(3, 6),
        "phase": rng.random(),
        "fence": (z0, z0 + rng.uniform(5, 30)) if rng.random() < 0.4 else None,
        "palette": palette.astype(np.float32),
        "sky_top": tops[rng.integers(0, 3)] * rng.uniform(0.9, 1.1),
        "sky_low": np.array([232, 234, 238], np.float32) * rng.uniform(0.9, 1.05),
        "glass": rng.uniform(35, 80) * np.array([0.9, 1.0, 1.15], np.float32),
        "tree_phase": rng.uniform(0, 6.3),
    }


def _blocks(rng: np.random.Generator, n: int, step: tuple[float, float], start: float) -> dict:
    """Buildings along one street side (or across its far end): edges, heights, kinds and looks."""
    return {
        "edges": start + np.cumsum(rng.uniform(*step, n)),
        "height": rng.uniform(2.5, 12.0, n),
        "tree": rng.random(n) < 0.15,
        "colour": FACADES[rng.integers(0, len(FACADES), n)] * rng.uniform(0.8, 1.15, (n, 1)),
        "floor": rng.uniform(1.6, 2.4, n),
        "bay": rng.uniform(1.2, 2.6, n),
    }


def _facades(cv: Canvas, rng: np.random.Generator, st: dict, dx: np.ndarray) -> dict:
    """Per-column facade depth and the look of the building block each column shows."""
    left = dx < 0
    side = np.where(left, st["walk_l"] - st["road_l"], st["road_r"] + st["walk_r"])
    z = cv.focal * side / np.maximum(np.abs(dx), 1e-3)
    far = z >= st["z_end"]  # columns that look down the street see the buildings across its end
    z = np.minimum(z, st["z_end"])
    n = 30
    tables = [
        _blocks(rng, n, (3.0, 12.0), 0.0),
        _blocks(rng, n, (3.0, 12.0), 0.0),
        _blocks(rng, n, (2.0, 8.0), -60),
    ]
    coord = np.where(far, dx * st["z_end"] / cv.focal, z)  # position along the facade, in units
    which = np.where(far, 2, np.where(left, 0, 1))
    pick = np.choose(which, [np.searchsorted(t["edges"], coord) for t in tables]).clip(0, n - 1) + which * n
    cols = {k: np.concatenate([t[k] for t in tables])[pick] for k in tables[0] if k != "edges"}
    wave = 1 + 0.2 * np.sin(coord * 0.9 + st["tree_phase"]) + 0.08 * np.sin(coord * 3.1)
    cols["height"] = np.where(cols["tree"], cols["height"] * 0.6 * wave, cols["height"])  # leafy top edge
    return {"z": z, "far": far, "side": side, "coord": coord, **cols}


def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)  # 60x faster than x % 1.0 on float arrays


def _background(cv: Canvas, rng: np.random.Generator, st: dict, glow: float) -> None:
    """Sky gradient, facades with windows, road with lane markings, pavement, an optional fence.

    Builds one material index per pixel (role colours, glass, kerb, ..., one row per facade column and
    per sky row), then colours the whole frame with a single np.take: boolean writes into the HxWx3
    image cost milliseconds each, a gather costs under one.
    """
    h, w, f, yh = cv.h, cv.w, cv.focal, cv.horizon
    ys = np.arange(h, dtype=np.float32)[:, None] + 0.5
    dx = np.arange(w, dtype=np.float32) + 0.5 - cv.vp
    fc = _facades(cv, rng, st, dx)
    z, tree, height = fc["z"], fc["tree"], fc["height"]
    v = (yh + f / z - ys) * (z / f)  # height above the ground on each column's facade plane
    facade_col, sky_row = len(MATERIAL_ROLE), len(MATERIAL_ROLE) + w
    mat = np.where(
        v > height, sky_row + np.arange(h)[:, None], np.where(tree, TREE, facade_col + np.arange(w))
    )
    win = (v > 1.5) & (v < height - 0.4) & (_frac(v / fc["floor"]) > 0.35)
    win &= ~tree & (_frac(fc["coord"] / fc["bay"]) > 0.3)
    mat[win] = GLASS
    if glow > 0:  # at night some windows are lit: a hash of the window's cell picks which
        cell = np.floor(v / fc["floor"]) * 7.0 + np.floor(fc["coord"] / fc["bay"]) * 13.0
        mat[win & (_frac(np.sin(cell * 12.9898) * 43758.5453) < 0.3)] = LIT
    # Ground, below the facades' feet: lateral X = dx / dy and depth Z = f / dy (camera height 1).
    r0 = min(int(yh) + 1, h - 1)
    dy = ys[r0:] - yh
    gx, gz, m = dx / dy, f / dy, mat[r0:]
    ground = v[r0:] <= 0
    road = ground & (gx > st["road_l"]) & (gx < st["road_r"])
    walk = ground & ~road
    m[walk] = SIDEWALK
    m[walk & ((_frac(gx / 0.7) < 0.08) | (_frac(gz / 0.7) < 0.08))] = SEAM
    m[walk & ((np.abs(gx - st["road_l"]) < 0.12) | (np.abs(gx - st["road_r"]) < 0.12))] = KERB
    m[road] = ROAD
    for pos, dashed in st["lanes"]:
        mark = road & (np.abs(gx - pos) < 0.06)
        if dashed:
            mark &= _frac(gz / st["dash"] + st["phase"]) < 0.5
        m[mark] = LANE
    if st["fence"]:
        zf = f * (fc["side"] - 0.2) / np.maximum(np.abs(dx), 1e-3)
        vf = (yh + f / zf - ys) * (zf / f)
        span = (zf > st["fence"][0]) & (zf < st["fence"][1]) & ~fc["far"]
        mat = np.where((vf > 0) & (vf < 0.7) & span, np.where(_frac(zf / 0.5) < 0.3, SLAT, FENCE), mat)
    pal = st["palette"]
    t = np.clip(ys / max(yh, 1.0), 0, 1)
    extras = [pal, st["glass"][None], [[250, 205, 130]], pal[[SIDEWALK]] * 0.8, pal[[SIDEWALK]] * 1.15]
    extras += [pal[[FENCE]] * 0.6, fc["colour"], st["sky_top"] * (1 - t) + st["sky_low"] * t]
    table = np.concatenate(extras).astype(np.float32)
    table[LIT] *= glow
    cv.col = np.take(table, mat, axis=0)
    roles = np.concatenate([MATERIAL_ROLE, np.full(w, BUILDING), np.full(h, SKY)]).astype(np.uint8)
    cv.role = np.take(roles, mat)


def _void_edges(cv: Canvas, rng: np.random.Generator) -> None:
    """Unlabelled pixels as in CamVid: the ego car's bonnet and black borders from undistortion."""
    if rng.random() < 0.3:
        u = (np.arange(cv.w, dtype=np.float32) + 0.5) / cv.w - 0.5
        top = cv.h * (1 - rng.uniform(0.05, 0.12) * (1 - 1.6 * u * u))
        hood = np.arange(cv.h, dtype=np.float32)[:, None] + 0.5 >= top
        cv.role[hood] = VOID
        cv.col[hood] = rng.uniform(30, 70) * np.array([0.9, 0.95, 1.1], np.float32)
    if rng.random() < 0.2:
        b = max(1, cv.h // 60)
        for sl in (np.s_[:b], np.s_[-b:], np.s_[:, :b], np.s_[:, -b:]):
            cv.role[sl], cv.col[sl] = VOID, 0.0


def _expose(cv: Canvas, rng: np.random.Generator, dark: bool, gain: float) -> np.ndarray:
    """Texture by role, a cast shadow, exposure and tint, sensor noise -> uint8 image."""
    h, w = cv.h, cv.w
    # Uniform noise scaled to the wanted std: looks the same as Gaussian, draws 3x faster.
    grain = rng.random((h, w), dtype=np.float32) - 0.5
    tex = grain * np.take(GRAIN, cv.role) + _smooth_noise(rng, h, w) * np.take(BLOTCH, cv.role)
    shade = np.full((h, w), gain, np.float32)
    if not dark and rng.random() < 0.4:  # a building's shadow across the scene
        ys, xs = np.ogrid[:h, :w]
        a, c = rng.uniform(-1.5, 1.5), rng.uniform(0.2, 0.8)
        shade[((xs - w * c) * a + (ys - cv.horizon) > 0) & (cv.role != SKY)] *= 0.6
    tint = np.array([0.75, 0.85, 1.1], np.float32) if dark else rng.uniform(0.92, 1.08, 3).astype(np.float32)
    col = cv.col
    col += tex[..., None]
    col *= shade[..., None]
    col *= tint
    noise = rng.random((h, w, 3), dtype=np.float32) - 0.5
    noise *= np.float32(12**0.5 * (3.5 if dark else 2.5))
    col += noise
    np.clip(col, 0, 255, out=col)
    lum = float((col.reshape(-1, 3) @ LUMA).mean())
    limit = 30.0 if dark else 70.0  # keep dark frames well under, and day frames well over, 40
    if (dark and lum > limit) or (not dark and lum < limit):
        col *= limit / max(lum, 1e-3)
    return col.astype(np.uint8)


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """(H, W) as ints; scenes need at least 8x8 pixels."""
    h, w = int(size[0]), int(size[1])
    if h < 8 or w < 8:
        raise CamsegError(f"scene size {h}x{w} is too small — use at least 8x8")
    return h, w


def render_scene(
    rng: np.random.Generator, size: tuple[int, int], classes: ClassMap, dark: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 HxWx3, mask int64 HxW of class indices) of one random street scene."""
    h, w = check_size(size)
    lut = role_classes(classes)
    yh, vp, focal = h * rng.uniform(0.36, 0.5), w * rng.uniform(0.38, 0.62), w * rng.uniform(0.7, 0.95)
    cv = Canvas(h, w, yh, vp, focal)
    gain = rng.uniform(0.08, 0.16) if dark else rng.uniform(0.75, 1.2)
    glow = 1.0 / gain if dark else 0.0  # lights are painted pre-boosted so they stay bright after exposure
    st = _street(rng)
    _background(cv, rng, st, glow)
    place_objects(cv, rng, st, _smooth_noise(rng, h, w, cell=3), glow)
    _void_edges(cv, rng)
    return _expose(cv, rng, dark, gain), lut[cv.role]
