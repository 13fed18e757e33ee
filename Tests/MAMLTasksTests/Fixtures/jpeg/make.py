#!/usr/bin/env python3
"""Makes the JPEG fixtures of JPEGTests (run once; the files are committed): a 32x16 image of two
solid 16x16 blocks, (200, 40, 40) and (30, 90, 220), saved as RGB baseline, RGB progressive,
grey (the luma of the two colours), and Adobe CMYK; plus a truncated and a non-JPEG file.
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
