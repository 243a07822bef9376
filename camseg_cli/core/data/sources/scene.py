"""Procedural CamVid-like street scenes: numpy rendering of one frame and its class mask.

A scene is a pinhole camera one unit (about 1.5 m) above a flat street. Ground pixels get a lateral
position X and depth Z, facades are vertical planes beside the pavement, and objects stand on the
ground at (X, Z), so size, position and colour all carry class information a network can learn.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.errors import CamsegError

# Scene roles and the class names each may take, first match wins (camvid32, camvid11, Cityscapes names).
ROLES: dict[str, tuple[str, ...]] = {
    "sky": ("Sky",), "building": ("Building",), "road": ("Road",), "sidewalk": ("Sidewalk", "Pavement"),
    "lane": ("LaneMkgsDriv", "Road"), "tree": ("Tree", "vegetation"), "pole": ("Column_Pole", "Pole"),
    "sign": ("SignSymbol", "traffic sign"), "light": ("TrafficLight", "SignSymbol", "traffic light"),
    "fence": ("Fence",), "car": ("Car",), "pedestrian": ("Pedestrian", "person"),
    "bicyclist": ("Bicyclist", "rider"), "void": ("Void",),
}  # fmt: skip
SKY, BUILDING, ROAD, SIDEWALK, LANE, TREE, POLE, SIGN, LIGHT, FENCE, CAR, PED, BIKE, VOID = range(len(ROLES))
# Base colour and texture (noise std: fine grain, blotches) per role; each image jitters the colours.
BASE = np.array(
    [[205, 210, 220], [150, 120, 100], [100, 95, 108], [165, 155, 140], [235, 235, 225], [70, 105, 45],
     [120, 120, 115], [200, 40, 40], [35, 35, 35], [125, 100, 75], [100, 100, 110], [90, 80, 90],
     [90, 80, 100], [30, 30, 30]], np.float32)  # fmt: skip
# GRAIN is scaled by sqrt(12) because it multiplies uniform noise in [-0.5, 0.5).
GRAIN = np.array([2, 6, 9, 7, 5, 32, 4, 3, 3, 9, 4, 6, 6, 16], np.float32) * np.float32(12**0.5)
BLOTCH = np.array([9, 10, 8, 8, 5, 18, 3, 2, 2, 6, 3, 4, 4, 10], np.float32)
PAINTS = np.array([[180, 30, 30], [30, 50, 140], [225, 225, 225], [25, 25, 30], [130, 135, 140],
                   [40, 110, 60], [200, 170, 40], [90, 40, 100]], np.float32)  # fmt: skip
FACADES = np.array([[150, 75, 55], [190, 170, 140], [135, 135, 140], [210, 205, 195], [110, 80, 60],
                    [170, 150, 120]], np.float32)  # fmt: skip
DARK_FRACTION = 0.15  # share of frames rendered at night/dusk (mean luminance well under 40)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# Background materials beyond the roles' own colours, and the role each material belongs to.
GLASS, LIT, SEAM, KERB, SLAT = range(len(ROLES), len(ROLES) + 5)
MATERIAL_ROLE = np.array([*range(len(ROLES)), BUILDING, BUILDING, SIDEWALK, SIDEWALK, FENCE])


@functools.lru_cache(maxsize=16)
def role_classes(classes: ClassMap) -> np.ndarray:
    """Class index of each scene role: the first candidate name the map has, else its void class."""
    lower = {n.lower(): i for i, n in enumerate(classes.names)}
    out = []
    for role, names in ROLES.items():
        idx = next((lower[n.lower()] for n in names if n.lower() in lower), classes.void)
        if idx is None:
            raise CamsegError(
                f"class map has no class for {role} (tried {', '.join(names)}) and no void class"
            )
        out.append(idx)
    return np.asarray(out, dtype=np.int64)


class _Canvas:
    """Role map + float colour image, and the camera that projects ground points (X, Z) into it."""

    role: np.ndarray  # HxW uint8 scene roles, set by _background
    col: np.ndarray  # HxWx3 float32 colours, set by _background

    def __init__(self, h: int, w: int, horizon: float, vp: float, focal: float):
        self.h, self.w, self.horizon, self.vp, self.focal = h, w, horizon, vp, focal

    def project(self, x: float, z: float) -> tuple[float, float, float]:
        """Pixels per unit, screen x and ground-contact y of the ground point (x, z)."""
        s = self.focal / z
        return s, self.vp + x * s, self.horizon + s

    def rect(self, role: int, colour, y0: float, y1: float, x0: float, x1: float, thin: bool = False) -> None:
        ya, yb = max(round(y0), 0), min(round(y1), self.h)
        xa = round(x0)
        xb = max(round(x1), xa + 1) if thin else round(x1)  # thin parts (poles) keep one pixel
        xa, xb = max(xa, 0), min(xb, self.w)
        if ya < yb and xa < xb:
            self.role[ya:yb, xa:xb] = role
            self.col[ya:yb, xa:xb] = colour

    def blobs(
        self, role: int, colour, circles: list, jag: np.ndarray | None = None, ring: float = 0.0
    ) -> None:
        """Paint the union of circles (cy, cx, r); `jag` roughens the edge, `ring` hollows the middle."""
        cs = np.asarray(circles, np.float32)
        y0, y1 = max(int((cs[:, 0] - cs[:, 2]).min()), 0), min(int((cs[:, 0] + cs[:, 2]).max()) + 1, self.h)
        x0, x1 = max(int((cs[:, 1] - cs[:, 2]).min()), 0), min(int((cs[:, 1] + cs[:, 2]).max()) + 1, self.w)
        if y0 >= y1 or x0 >= x1:
            return
        yy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
        xx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
        d = np.full((y1 - y0, x1 - x0), np.inf, np.float32)
        for cy, cx, r in cs:  # a handful of circles per object
            d = np.minimum(d, ((yy - cy) ** 2 + (xx - cx) ** 2) / max(r * r, 0.25))
        limit = 1.0 + (0.3 * jag[y0:y1, x0:x1] if jag is not None else 0.0)
        m = (d < limit) & (d >= ring * ring)
        self.role[y0:y1, x0:x1][m] = role
        self.col[y0:y1, x0:x1][m] = colour

    def box(self, role: int, colour, x: float, yg: float, s: float, u: tuple, v: tuple, thin=False) -> None:
        """Rectangle given in object units: u = lateral span from x, v = height span above the ground."""
        self.rect(role, colour, yg - v[1] * s, yg - v[0] * s, x + u[0] * s, x + u[1] * s, thin)


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


def _facades(cv: _Canvas, rng: np.random.Generator, st: dict, dx: np.ndarray) -> dict:
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


def _background(cv: _Canvas, rng: np.random.Generator, st: dict, glow: float) -> None:
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


def _car(cv: _Canvas, rng: np.random.Generator, s: float, x: float, yg: float, glow: float) -> None:
    a, ht = rng.uniform(0.55, 0.68), rng.uniform(0.9, 1.35)  # half width, height (units)
    paint = PAINTS[rng.integers(0, len(PAINTS))] * rng.uniform(0.8, 1.1)
    lamp = np.array([255, 60, 40], np.float32) * glow if glow else (190, 25, 25)
    cv.box(CAR, paint, x, yg, s, (-a, a), (0.12, 0.62 * ht))
    cv.box(CAR, paint * 0.9, x, yg, s, (-0.85 * a, 0.85 * a), (0.62 * ht, ht))
    cv.box(CAR, (45, 55, 65), x, yg, s, (-0.72 * a, 0.72 * a), (0.66 * ht, 0.95 * ht))
    cv.box(CAR, (215, 215, 205), x, yg, s, (-0.2, 0.2), (0.2, 0.3))
    for sg in (-1, 1):
        cv.box(CAR, (22, 22, 25), x, yg, s, sorted((sg * a, sg * 0.62 * a)), (0.0, 0.25))
        cv.box(CAR, lamp, x, yg, s, sorted((sg * 0.95 * a, sg * 0.7 * a)), (0.42 * ht, 0.52 * ht))


def _person(cv: _Canvas, rng: np.random.Generator, s: float, x: float, yg: float, role: int) -> None:
    """A pedestrian, or (role BIKE) a rider on a bicycle seen from the side."""
    shirt, legs = rng.uniform(20, 230, 3), rng.uniform(20, 110, 3)
    skin = np.array([[225, 190, 160], [165, 115, 85], [95, 65, 50]], np.float32)[rng.integers(0, 3)]
    if role == BIKE:
        for u in (-0.45, 0.45):
            cv.blobs(BIKE, (25, 25, 25), [(yg - 0.3 * s, x + u * s, 0.3 * s)], ring=0.72)
        cv.box(BIKE, rng.uniform(30, 220, 3), x, yg, s, (-0.45, 0.45), (0.4, 0.46))
        cv.box(BIKE, legs, x, yg, s, (-0.1, 0.05), (0.3, 0.8))
        cv.box(BIKE, shirt, x, yg, s, (-0.17, 0.12), (0.78, 1.2))
        cv.box(BIKE, shirt * 0.85, x, yg, s, (0.05, 0.38), (1.04, 1.11))
        cv.blobs(BIKE, skin, [(yg - 1.3 * s, x, 0.09 * s)])
        return
    hp, st = rng.uniform(1.0, 1.25), rng.uniform(0.0, 0.08)
    cv.box(PED, legs, x, yg, s, (-0.13 - st, -0.02 - st), (0.0, 0.48 * hp))
    cv.box(PED, legs, x, yg, s, (0.02 + st, 0.13 + st), (0.0, 0.48 * hp))
    cv.box(PED, shirt, x, yg, s, (-0.18, 0.18), (0.46 * hp, 0.83 * hp))
    for u in ((-0.25, -0.18), (0.18, 0.25)):
        cv.box(PED, shirt * 0.85, x, yg, s, u, (0.5 * hp, 0.8 * hp))
    cv.blobs(PED, skin, [(yg - 0.9 * hp * s, x, 0.085 * s)])


def _pole(cv: _Canvas, rng: np.random.Generator, s: float, x: float, yg: float, glow: float) -> None:
    """A pole, maybe with a sign or a traffic light on top."""
    hp, kind = rng.uniform(2.5, 4.5), rng.random()
    cv.box(POLE, rng.uniform(70, 150) * np.array([1, 1, 0.95]), x, yg, s, (-0.05, 0.05), (0, hp), thin=True)
    if kind < 0.3:  # round sign: red ring, pale face
        cy = yg - (hp - 0.3) * s
        cv.blobs(SIGN, (200, 30, 30), [(cy, x, 0.3 * s)])
        cv.blobs(SIGN, (235, 235, 230), [(cy, x, 0.21 * s)])
    elif kind < 0.55:  # plate sign
        face = np.array([[30, 70, 170], [230, 230, 225], [230, 190, 30], [30, 120, 60]], np.float32)
        cv.box(SIGN, face[rng.integers(0, 4)], x, yg, s, (-0.35, 0.35), (hp - 0.55, hp))
    elif kind < 0.75:  # traffic light: dark housing, one of three lamps lit
        cv.box(LIGHT, (30, 30, 30), x, yg, s, (-0.14, 0.14), (hp - 0.85, hp))
        on = rng.integers(0, 3)
        for i, c in enumerate(((230, 40, 30), (240, 170, 20), (40, 220, 90))):
            lamp = np.array(c, np.float32) * (max(glow, 1.0) if i == on else 0.25)
            cv.blobs(LIGHT, lamp, [(yg - (hp - 0.15 - 0.27 * i) * s, x, 0.08 * s)])


def _tree(
    cv: _Canvas, rng: np.random.Generator, s: float, x: float, yg: float, st: dict, jag: np.ndarray
) -> None:
    trunk, r = rng.uniform(1.0, 2.0), rng.uniform(0.9, 1.8)
    cv.box(TREE, (85, 65, 45), x, yg, s, (-0.1, 0.1), (0, trunk + 0.5 * r), thin=True)
    k = int(rng.integers(4, 8))
    off, rad = rng.uniform(-0.6, 0.6, (k, 2)) * r, rng.uniform(0.45, 0.75, k) * r
    circles = [(yg - (trunk + 0.8 * r + o[0]) * s, x + o[1] * s, q * s) for o, q in zip(off, rad)]
    cv.blobs(TREE, st["palette"][TREE] * rng.uniform(0.75, 1.2), circles, jag=jag)


def _objects(cv: _Canvas, rng: np.random.Generator, st: dict, jag: np.ndarray, glow: float) -> None:
    """Place cars, people, poles, trees and clutter on the ground and paint them far to near."""
    rl, rr, wl, wr = st["road_l"], st["road_r"], st["walk_l"], st["walk_r"]

    def at(near: float, far: float) -> float:  # depth, always in front of the street's far end
        return rng.uniform(near, min(far, st["z_end"] - 2))

    def walk_x() -> float:
        return rl - rng.uniform(0.3, wl - 0.3) if rng.random() < 0.5 else rr + rng.uniform(0.3, wr - 0.3)

    def either(a: float, b: float, p: float = 0.5) -> float:
        return a if rng.random() < p else b

    items = [("car", rng.uniform(rl + 0.7, rr - 0.7), at(4, 45)) for _ in range(rng.integers(0, 5))]
    items += [("ped", walk_x(), at(3, 35)) for _ in range(rng.integers(0, 5))]
    items += [("bike", either(rr - 0.5, rl + 0.5, 0.7), at(4, 30)) for _ in range(rng.random() < 0.4)]
    items += [("pole", either(rl - 0.4, rr + 0.4), at(4, 40)) for _ in range(rng.integers(1, 4))]
    items += [("tree", either(rl - wl + 0.8, rr + wr - 0.8), at(5, 50)) for _ in range(rng.integers(0, 5))]
    items += [("void", walk_x(), at(4, 30)) for _ in range(rng.integers(0, 2))]
    for kind, x, z in sorted(items, key=lambda it: -it[2]):  # painter's order: far objects first
        s, px, yg = cv.project(x, z)
        if kind == "car":
            _car(cv, rng, s, px, yg, glow)
        elif kind in ("ped", "bike"):
            _person(cv, rng, s, px, yg, PED if kind == "ped" else BIKE)
        elif kind == "pole":
            _pole(cv, rng, s, px, yg, glow)
        elif kind == "tree":
            _tree(cv, rng, s, px, yg, st, jag)
        else:  # bins, boxes: unlabelled clutter, as CamVid leaves it
            cv.box(VOID, rng.uniform(20, 200, 3), px, yg, s, (-0.25, 0.25), (0, rng.uniform(0.5, 1.0)))


def _void_edges(cv: _Canvas, rng: np.random.Generator) -> None:
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


def _expose(cv: _Canvas, rng: np.random.Generator, dark: bool, gain: float) -> np.ndarray:
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
    cv = _Canvas(h, w, yh, vp, focal)
    gain = rng.uniform(0.08, 0.16) if dark else rng.uniform(0.75, 1.2)
    glow = 1.0 / gain if dark else 0.0  # lights are painted pre-boosted so they stay bright after exposure
    st = _street(rng)
    _background(cv, rng, st, glow)
    _objects(cv, rng, st, _smooth_noise(rng, h, w, cell=3), glow)
    _void_edges(cv, rng)
    return _expose(cv, rng, dark, gain), lut[cv.role]
