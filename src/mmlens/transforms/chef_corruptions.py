"""ChEF's photometric corruptions, ported from its code (``constants=chef``, the default).

ChEF (Coach257/ChEF @54df7bb, ``data_process/corruption/image_corruption_method.py``) adapted
Hendrycks' CIFAR-10-C code: CIFAR's constants (``c[severity - 1]``) and some 32-px leftovers,
kept here as the official code has them (the glass-blur shuffle and the elastic constants assume
32 px, fog takes ``H // 32 x W // 32`` cells of a 32-px plasma fractal and stretches them). Each
function cites the lines it ports; the random draws come from the global generators in the same
order as the official function (the caller seeds them per step).

Two departures, both forced: ChEF's motion blur (and snow's) runs ImageMagick through Wand; here
it is ``imagecorruptions``' numpy port of ImageMagick's kernel with ChEF's radius and sigma and
ImageMagick's Q16 rounding (pixel for pixel the same as ImageMagick 6 Q16 on the cases tried). ChEF's
impulse noise draws from a fresh unseeded generator; here it draws from the step's seed. Frost
reads the six frost pictures ``imagecorruptions`` bundles (byte-identical to ChEF's) and, as ChEF
does, stretches the chosen one over the whole picture.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any

import cv2
import numpy as np
import skimage as sk
from PIL import Image
from scipy.ndimage import affine_transform, map_coordinates, spline_filter, zoom
from skimage.filters import gaussian
from skimage.transform import resize

Array = np.ndarray[Any, Any]


# --- helpers ---------------------------------------------------------------------------------


def disk(radius: float, alias_blur: float = 0.1) -> Array:
    """Lines 34-46."""
    grid, ksize = (np.arange(-8, 9), (3, 3)) if radius <= 8 else (np.arange(-radius, radius + 1), (5, 5))
    xs, ys = np.meshgrid(grid, grid)
    aliased = np.array((xs**2 + ys**2) <= radius**2, dtype=np.float32)
    aliased /= np.sum(aliased)
    return cv2.GaussianBlur(aliased, ksize=ksize, sigmaX=alias_blur)


def plasma_fractal(mapsize: int = 32, wibbledecay: float = 3) -> Array:
    """Lines 63-109: the diamond-square heightmap (float64, as ``np.float_``), in [0, 1]."""
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize, wibble = mapsize, 100.0

    def wibbledmean(array: Array) -> Array:
        return array / 4 + wibble * np.random.uniform(-wibble, wibble, array.shape)

    while stepsize >= 2:
        half = stepsize // 2
        corners = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        square = corners + np.roll(corners, shift=-1, axis=0)
        square += np.roll(square, shift=-1, axis=1)
        maparray[half:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(square)
        down_right = maparray[half:mapsize:stepsize, half:mapsize:stepsize]
        up_left = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        left = (down_right + np.roll(down_right, 1, axis=0)) + (up_left + np.roll(up_left, -1, axis=1))
        maparray[0:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(left)
        top = (down_right + np.roll(down_right, 1, axis=1)) + (up_left + np.roll(up_left, -1, axis=0))
        maparray[half:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(top)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


def clipped_zoom(img: Array, zoom_factor: float) -> Array:
    """Lines 126-133: ChEF's version (bicubic zoom of the whole picture, centre crop)."""
    h, w, _ = img.shape
    ch, cw = np.round(np.array([h, w]) * zoom_factor).astype(int)
    zoomed = zoom(img, (zoom_factor, zoom_factor, 1), order=3)
    row, col = max((ch - h) // 2, 0), max((cw - w) // 2, 0)
    return zoomed[row : row + h, col : col + w, :]


def imagemagick_motion_blur(x: Array, radius: float, sigma: float, angle: float) -> Array:
    """ChEF's ``MotionImage.motion_blur`` (lines 50-59, ImageMagick's MagickMotionBlurImage on an
    8-bit PNG): ``imagecorruptions``' numpy port of ImageMagick's kernel, then ImageMagick's Q16
    rounding and its truncation back to 8 bits; the 8-bit pixels, as ChEF decodes them."""
    from imagecorruptions.corruptions import _motion_blur

    blurred = np.asarray(_motion_blur(x, radius=radius, sigma=sigma, angle=angle), dtype=np.float64)
    return np.clip(np.floor(np.round(blurred * 257) / 257), 0, 255).astype(np.uint8)


def frost_picture(index: int) -> Array:
    """ChEF's ``./frost{1..6}`` (line 280), read with OpenCV (BGR) from ``imagecorruptions``."""
    import importlib.resources

    name = ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg"][index]
    with importlib.resources.as_file(importlib.resources.files("imagecorruptions") / "frost" / name) as path:
        picture = cv2.imread(str(path))
    if picture is None:
        raise FileNotFoundError(f"imagecorruptions' frost picture {name}")
    return np.asarray(picture)


# --- noise -----------------------------------------------------------------------------------


def gaussian_noise(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 140-144."""
    c = [0.04, 0.06, 0.08, 0.09, 0.10][severity - 1]
    a = np.array(x) / 255.0
    return np.clip(a + np.random.normal(size=a.shape, scale=c), 0, 1) * 255


def shot_noise(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 147-151."""
    c = [500, 250, 100, 75, 50][severity - 1]
    a = np.array(x) / 255.0
    return np.clip(np.random.poisson(a * c) / c, 0, 1) * 255


def impulse_noise(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 154-158 (ChEF's call is unseeded; here the step's seed)."""
    c = [0.01, 0.02, 0.03, 0.05, 0.07][severity - 1]
    a = sk.util.random_noise(np.array(x) / 255.0, mode="s&p", rng=seed, amount=c)
    return np.clip(a, 0, 1) * 255


def speckle_noise(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 161-165."""
    c = [0.06, 0.1, 0.12, 0.16, 0.2][severity - 1]
    a = np.array(x) / 255.0
    return np.clip(a + a * np.random.normal(size=a.shape, scale=c), 0, 1) * 255


# --- blur ------------------------------------------------------------------------------------


def gaussian_blur(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 168-172: no ``channel_axis``, so scikit-image >= 0.21 blurs across the colour axis
    too (what the official call does there; scikit-image 0.19-0.20 guessed RGB)."""
    c = [0.4, 0.6, 0.7, 0.8, 1][severity - 1]
    return np.clip(gaussian(np.array(x) / 255.0, sigma=c), 0, 1) * 255


def glass_blur(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 175-190: the shuffle covers the top-left 32x32 (CIFAR's size), as in ChEF; the
    "swap" copies one pixel onto both places (numpy views), as in ChEF."""
    c = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)][severity - 1]
    sigma, delta, iterations = c
    a = (gaussian(np.array(x) / 255.0, sigma=sigma, channel_axis=-1) * 255).astype(np.uint8)
    for _ in range(int(iterations)):
        for h in range(32 - int(delta), int(delta), -1):
            for w in range(32 - int(delta), int(delta), -1):
                dx, dy = np.random.randint(-delta, delta, size=(2,))
                h_prime, w_prime = h + dy, w + dx
                a[h, w], a[h_prime, w_prime] = a[h_prime, w_prime], a[h, w]
    return np.clip(gaussian(a / 255.0, sigma=sigma, channel_axis=-1), 0, 1) * 255


def defocus_blur(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 193-204."""
    c = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][severity - 1]
    a = np.array(x) / 255.0
    kernel = disk(radius=c[0], alias_blur=c[1])
    channels = np.array([cv2.filter2D(a[:, :, d], -1, kernel) for d in range(3)]).transpose((1, 2, 0))
    return np.clip(channels, 0, 1) * 255


def motion_blur(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 207-222 (ImageMagick's blur through its numpy port, see the module's note)."""
    c = [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)][severity - 1]
    return imagemagick_motion_blur(np.array(x), c[0], c[1], np.random.uniform(-45, 45))


def zoom_blur(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 225-235, with ``clipped_zoom`` computing only the centre it keeps (below)."""
    c = np.arange(1, [1.06, 1.11, 1.16, 1.21, 1.26][severity - 1], 0.01)
    a = (np.array(x) / 255.0).astype(np.float32)
    out = np.zeros_like(a)
    filtered = spline_filter(a, order=3, output=np.float64, mode="constant")
    for zoom_factor in c:
        out += a if zoom_factor == 1 else clipped_zoom_centre(filtered, a.shape, zoom_factor)
    return np.clip((a + out) / (len(c) + 1), 0, 1) * 255


def clipped_zoom_centre(filtered: Array, shape: tuple[int, ...], zoom_factor: float) -> Array:
    """``clipped_zoom`` (lines 126-133) without zooming the parts it crops away: SciPy's ``zoom``
    (order 3, mode constant) maps output pixel ``i`` to ``i * (n - 1) / (m - 1)`` on the
    prefiltered picture; the same spline sampled at the kept pixels only (the same pixels, bit for
    bit, on the cases tried; some 20x faster at severity 5)."""
    h, w = shape[:2]
    zoomed = [round(h * zoom_factor), round(w * zoom_factor)]  # zoom's output shape
    ch, cw = np.round(np.array([h, w]) * zoom_factor).astype(int)
    row, col = max((ch - h) // 2, 0), max((cw - w) // 2, 0)
    rows, cols = min(h, zoomed[0] - row), min(w, zoomed[1] - col)
    scale = [(h - 1) / (zoomed[0] - 1), (w - 1) / (zoomed[1] - 1), 1.0]
    return affine_transform(
        filtered, scale, offset=[row * scale[0], col * scale[1], 0], output_shape=(rows, cols, shape[2]),
        order=3, mode="constant", prefilter=False, output=np.float32,
    )  # fmt: skip


# --- weather ---------------------------------------------------------------------------------


def snow(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 291-321 (the layer's motion blur through ImageMagick's numpy port)."""
    c = [
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ][severity - 1]
    a = np.array(x, dtype=np.float32) / 255.0
    layer = np.random.normal(size=a.shape[:2], loc=c[0], scale=c[1])
    layer = clipped_zoom(layer[..., np.newaxis], c[2])
    layer[layer < c[3]] = 0
    layer8 = (np.clip(layer.squeeze(), 0, 1) * 255).astype(np.uint8)  # the 'L' picture ChEF blurs
    blurred = imagemagick_motion_blur(layer8, c[4], c[5], np.random.uniform(-135, -45))
    layer = (blurred / 255.0)[..., np.newaxis]
    gray = np.expand_dims(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), axis=-1)
    a = c[6] * a + (1 - c[6]) * np.maximum(a, gray * 1.5 + 0.5)
    return np.clip(a + layer + np.rot90(layer, k=2), 0, 1) * 255


def frost(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 277-288: the frost picture stretched over the whole picture (no crop)."""
    c = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][severity - 1]
    picture = frost_picture(np.random.randint(6))
    picture = cv2.resize(picture, (x.width, x.height))[..., [2, 1, 0]]
    return np.clip(c[0] * np.array(x) + c[1] * picture, 0, 255).astype(np.uint8)


def fog(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 249-263: ``H // 32 x W // 32`` cells of a 32-px plasma fractal, stretched."""
    c = [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)][severity - 1]
    a = np.array(x) / 255.0
    max_val = a.max()
    cells = plasma_fractal(wibbledecay=c[1])[: a.shape[0] // 32, : a.shape[1] // 32]
    a += c[0] * resize(cells, output_shape=a.shape[:2], mode="reflect")[..., np.newaxis]
    return np.clip(a * max_val / (max_val + c[0]), 0, 1) * 255


def spatter(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 324-376."""
    c = [
        (0.62, 0.1, 0.7, 0.7, 0.5, 0),
        (0.65, 0.1, 0.8, 0.7, 0.5, 0),
        (0.65, 0.3, 1, 0.69, 0.5, 0),
        (0.65, 0.1, 0.7, 0.69, 0.6, 1),
        (0.65, 0.1, 0.5, 0.68, 0.6, 1),
    ][severity - 1]
    a = np.array(x, dtype=np.float32) / 255.0
    liquid = gaussian(np.random.normal(size=a.shape[:2], loc=c[0], scale=c[1]), sigma=c[2])
    liquid[liquid < c[3]] = 0
    if c[5] == 0:
        return water_spatter(a, (liquid * 255).astype(np.uint8), c[4])
    m = gaussian(np.where(liquid > c[3], 1, 0).astype(np.float32), sigma=c[4])
    m[m < 0.8] = 0
    color = np.concatenate([v / 255.0 * np.ones_like(a[..., :1]) for v in (63, 42, 20)], axis=2)
    color *= m[..., np.newaxis]
    a *= 1 - m[..., np.newaxis]
    return np.clip(a + color, 0, 1) * 255


def water_spatter(a: Array, liquid: Array, strength: float) -> Array:
    """Lines 337-361: spatter's water branch (severities 1-3)."""
    dist = cv2.distanceTransform(255 - cv2.Canny(liquid, 50, 150), cv2.DIST_L2, 5)
    _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
    dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
    dist = cv2.filter2D(dist, cv2.CV_8U, np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]))
    dist = cv2.blur(dist, (3, 3)).astype(np.float32)
    m: Array = cv2.cvtColor(liquid * dist, cv2.COLOR_GRAY2BGRA)
    m /= np.max(m, axis=(0, 1))
    m *= strength
    color = np.concatenate([v / 255.0 * np.ones_like(m[..., :1]) for v in (175, 238, 238)], axis=2)
    color = cv2.cvtColor(color, cv2.COLOR_BGR2BGRA)
    a = cv2.cvtColor(a, cv2.COLOR_BGR2BGRA)
    return cv2.cvtColor(np.clip(a + m * color, 0, 1), cv2.COLOR_BGRA2BGR) * 255


def brightness(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 387-395."""
    c = [0.05, 0.1, 0.15, 0.2, 0.3][severity - 1]
    hsv = sk.color.rgb2hsv(np.array(x) / 255.0)
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] + c, 0, 1)
    return np.clip(sk.color.hsv2rgb(hsv), 0, 1) * 255


# --- digital ---------------------------------------------------------------------------------


def contrast(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 379-384."""
    c = [0.75, 0.5, 0.4, 0.3, 0.15][severity - 1]
    a = np.array(x) / 255.0
    means = np.mean(a, axis=(0, 1), keepdims=True)
    return np.clip((a - means) * c + means, 0, 1) * 255


def saturate(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 398-406."""
    c = [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)][severity - 1]
    hsv = sk.color.rgb2hsv(np.array(x) / 255.0)
    hsv[:, :, 1] = np.clip(hsv[:, :, 1] * c[0] + c[1], 0, 1)
    return np.clip(sk.color.hsv2rgb(hsv), 0, 1) * 255


def jpeg_compression(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 409-416."""
    c = [80, 65, 58, 50, 40][severity - 1]
    output = BytesIO()
    x.save(output, "JPEG", quality=c)
    return np.array(Image.open(output))


def pixelate(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 427-437: OpenCV nearest-neighbour down and back up."""
    c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
    a = np.array(x)
    small = cv2.resize(a, (int(a.shape[1] * c), int(a.shape[0] * c)), interpolation=cv2.INTER_NEAREST)
    return cv2.resize(small, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_NEAREST)


def elastic_transform(x: Image.Image, severity: int, seed: int) -> Array:
    """Lines 440-470: CIFAR's constants (``IMSIZE = 32``) whatever the picture's size."""
    size = 32  # IMSIZE
    c = [
        (size * 0, size * 0, size * 0.08),
        (size * 0.05, size * 0.2, size * 0.07),
        (size * 0.08, size * 0.06, size * 0.06),
        (size * 0.1, size * 0.04, size * 0.05),
        (size * 0.1, size * 0.03, size * 0.03),
    ][severity - 1]
    image = np.array(x, dtype=np.float32) / 255.0
    shape = image.shape
    center, square = np.array(shape[:2], dtype=np.float32) // 2, min(shape[:2]) // 3
    corners = [center + square, [center[0] + square, center[1] - square], center - square]
    pts1: Array = np.array(corners, dtype=np.float32)
    pts2 = pts1 + np.asarray(np.random.uniform(-c[2], c[2], size=pts1.shape), dtype=np.float32)
    warp = cv2.getAffineTransform(pts1, pts2)
    image = np.asarray(cv2.warpAffine(image, warp, shape[:2][::-1], borderMode=cv2.BORDER_REFLECT_101))
    dx, dy = (
        (gaussian(np.random.uniform(-1, 1, size=shape[:2]), c[1], mode="reflect", truncate=3) * c[0]).astype(
            np.float32
        )[..., np.newaxis]
        for _ in range(2)
    )
    xs, ys, zs = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    indices = np.reshape(ys + dy, (-1, 1)), np.reshape(xs + dx, (-1, 1)), np.reshape(zs, (-1, 1))
    return np.clip(map_coordinates(image, indices, order=1, mode="reflect").reshape(shape), 0, 1) * 255


CHEF_FUNCTIONS: dict[str, Callable[[Image.Image, int, int], Array]] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "speckle_noise": speckle_noise,
    "defocus_blur": defocus_blur,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "zoom_blur": zoom_blur,
    "gaussian_blur": gaussian_blur,
    "snow": snow,
    "frost": frost,
    "fog": fog,
    "brightness": brightness,
    "spatter": spatter,
    "contrast": contrast,
    "elastic_transform": elastic_transform,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
    "saturate": saturate,
}
