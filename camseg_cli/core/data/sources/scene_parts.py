"""The parts a street scene is painted from: the roles a pixel can take (and the class each maps to),
the canvas with its ground-plane camera, and the objects standing on the ground (cars, people, poles,
signs, lights, trees, clutter). core/data/sources/scene.py lays out the street and renders a frame.
"""

from __future__ import annotations

import functools

import numpy as np

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
PAINTS = np.array([[180, 30, 30], [30, 50, 140], [225, 225, 225], [25, 25, 30], [130, 135, 140],
                   [40, 110, 60], [200, 170, 40], [90, 40, 100]], np.float32)  # fmt: skip


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


class Canvas:
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


def _car(cv: Canvas, rng: np.random.Generator, s: float, x: float, yg: float, glow: float) -> None:
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


def _person(cv: Canvas, rng: np.random.Generator, s: float, x: float, yg: float, role: int) -> None:
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


def _pole(cv: Canvas, rng: np.random.Generator, s: float, x: float, yg: float, glow: float) -> None:
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
    cv: Canvas, rng: np.random.Generator, s: float, x: float, yg: float, st: dict, jag: np.ndarray
) -> None:
    trunk, r = rng.uniform(1.0, 2.0), rng.uniform(0.9, 1.8)
    cv.box(TREE, (85, 65, 45), x, yg, s, (-0.1, 0.1), (0, trunk + 0.5 * r), thin=True)
    k = int(rng.integers(4, 8))
    off, rad = rng.uniform(-0.6, 0.6, (k, 2)) * r, rng.uniform(0.45, 0.75, k) * r
    circles = [(yg - (trunk + 0.8 * r + o[0]) * s, x + o[1] * s, q * s) for o, q in zip(off, rad)]
    cv.blobs(TREE, st["palette"][TREE] * rng.uniform(0.75, 1.2), circles, jag=jag)


def place_objects(cv: Canvas, rng: np.random.Generator, st: dict, jag: np.ndarray, glow: float) -> None:
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
