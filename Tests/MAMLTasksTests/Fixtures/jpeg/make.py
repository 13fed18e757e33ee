#!/usr/bin/env python3
"""Makes the JPEG fixtures of JPEGTests (run once; the files are committed): a 32x16 image of two
solid 16x16 blocks, (200, 40, 40) and (30, 90, 220), saved as RGB baseline, RGB progressive,
grey (the luma of the two colours), and Adobe CMYK; plus a truncated and a non-JPEG file; and the
textured image of the decoder comparisons (below).
Needs Pillow (pip install pillow)."""
import os
from PIL import Image
here = os.path.dirname(os.path.abspath(__file__))
rgb = Image.new("RGB", (32, 16))
for x in range(32):
    for y in range(16):
        rgb.putpixel((x, y), (200, 40, 40) if x < 16 else (30, 90, 220))
rgb.save(os.path.join(here, "rgb.jpg"), quality=95, subsampling=0)
rgb.save(os.path.join(here, "progressive.jpg"), quality=95, subsampling=0, progressive=True)
rgb.convert("L").save(os.path.join(here, "grey.jpg"), quality=95)
rgb.convert("CMYK").save(os.path.join(here, "cmyk.jpg"), quality=95)
data = open(os.path.join(here, "rgb.jpg"), "rb").read()
open(os.path.join(here, "truncated.jpg"), "wb").write(data[: len(data) // 2])
open(os.path.join(here, "not-a-jpeg.jpg"), "wb").write(b"GIF89a, not a JPEG at all\n")

# Decoder comparisons (JPEGComparisonTests): a 40x24 textured image (gradients, a checkerboard, a
# disc; not a multiple of the 16x16 colour MCU, so partial blocks and chroma upsampling at the
# edges are exercised), saved as a 4:2:0 colour JPEG at quality 90, a 4:4:4 one at 95 and a grey
# one at 90. Expectations, lossless PNGs: textured*-source.png hold the pixels before encoding
# (independent of every JPEG codec: a decoder must land within JPEG's error of them; without
# subsampling, so colour conversion is checked), textured*-pillow.png what Pillow decodes the
# JPEGs to (Pillow's bundled libjpeg-turbo build, not the system one: the same lineage, so these
# pin exact values, e.g. chroma upsampling, not their correctness).
src = Image.new("RGB", (40, 24))
for x in range(40):
    for y in range(24):
        disc = (x - 28) ** 2 + (y - 12) ** 2 < 49
        check = 60 if (x // 4 + y // 4) % 2 else 0
        src.putpixel((x, y), (255 - 5 * x if not disc else 30, 9 * y + check, (7 * x + 3 * y) % 256 if not disc else 240))
src.save(os.path.join(here, "textured-source.png"))
src.convert("L").save(os.path.join(here, "textured-grey-source.png"))
src.save(os.path.join(here, "textured.jpg"), quality=90, subsampling=2)
src.save(os.path.join(here, "textured-444.jpg"), quality=95, subsampling=0)
src.convert("L").save(os.path.join(here, "textured-grey.jpg"), quality=90)
Image.open(os.path.join(here, "textured.jpg")).convert("RGB").save(os.path.join(here, "textured-pillow.png"))
Image.open(os.path.join(here, "textured-grey.jpg")).save(os.path.join(here, "textured-grey-pillow.png"))
