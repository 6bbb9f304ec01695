#!/usr/bin/env python3
"""Makes the decode target's seeds (fuzz/seeds/) of what phones and editors write, with encoders
independent of ours: pillow-heif (libheif with x265) for HEIC, Pillow (libjpeg, zlib, LittleCMS) for ICC-tagged
files, and libjpeg-turbo's jpegtran for an arithmetic-coded JPEG. Small on purpose: a seed is
mutated millions of times.

    python3 -m venv /tmp/seeds && /tmp/seeds/bin/pip install pillow pillow-heif numpy
    apt-get install libjpeg-turbo-progs      # jpegtran
    /tmp/seeds/bin/python fuzz/make-seeds.py

grid.heic      a 2x1 grid of 64-pixel HEVC tiles, cropped to 96x40 (as iPhones store photos)
irot.heic      stored sideways with an `irot` box (from EXIF orientation 6)
ten-bit.heic   10-bit HEVC (Main 10), from 16-bit samples
icc.jpg        a JPEG carrying an sRGB ICC profile (APP2)
icc.png        a PNG carrying the same profile (iCCP)
arithmetic.jpg a baseline JPEG re-coded with arithmetic coding (SOF9)
"""
import io
import pathlib
import subprocess
import tempfile

import numpy as np
import pillow_heif
from PIL import Image, ImageCms, ImageDraw

HERE = pathlib.Path(__file__).parent / "seeds"
pillow_heif.register_heif_opener()


def scene(width, height):
    """Three flat shapes: a rotation or a mirror shows, and the encoder has edges to code."""
    image = Image.new("RGB", (width, height), (200, 60, 30))
    draw = ImageDraw.Draw(image)
    draw.rectangle([width // 2, 0, width, height // 2], fill=(20, 90, 200))
    draw.ellipse([width // 4, height // 4, 3 * width // 4, 3 * height // 4], fill=(240, 240, 40))
    return image


def heif(image, **options):
    out = io.BytesIO()
    image.save(out, format="HEIF", quality=30, **options)
    return out.getvalue()


grid = heif(scene(96, 40), tile_size=64)
assert b"grid" in grid, "pillow-heif did not write a grid"
(HERE / "grid.heic").write_bytes(grid)

exif = Image.Exif()
exif[0x0112] = 6
rotated = heif(scene(40, 30), exif=exif.tobytes())
assert b"irot" in rotated, "pillow-heif did not write irot"
(HERE / "irot.heic").write_bytes(rotated)

deep = np.asarray(scene(64, 48)).astype(np.uint16) * 257
ten_bit = io.BytesIO()
pillow_heif.from_bytes("RGB;16", (64, 48), deep.tobytes()).save(ten_bit, quality=40)
assert pillow_heif.open_heif(io.BytesIO(ten_bit.getvalue())).info["bit_depth"] == 10
(HERE / "ten-bit.heic").write_bytes(ten_bit.getvalue())

srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
scene(40, 30).save(HERE / "icc.jpg", quality=70, icc_profile=srgb)
scene(40, 30).save(HERE / "icc.png", icc_profile=srgb)

with tempfile.NamedTemporaryFile(suffix=".jpg") as baseline:
    scene(40, 30).save(baseline.name, quality=70)
    subprocess.run(
        ["jpegtran", "-arithmetic", "-outfile", str(HERE / "arithmetic.jpg"), baseline.name],
        check=True,
    )
