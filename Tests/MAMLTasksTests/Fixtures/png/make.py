#!/usr/bin/env python3
"""PNG fixtures of ImageFileTests (run once; committed): the two-block image of the JPEG fixtures
as 8-bit RGB, as a palette PNG whose second colour is fully transparent, as 16-bit grey, and a
JPEG saved under a .png name. Needs Pillow."""
import os
from PIL import Image
here = os.path.dirname(os.path.abspath(__file__))
rgb = Image.new("RGB", (32, 16))
for x in range(32):
    for y in range(16):
        rgb.putpixel((x, y), (200, 40, 40) if x < 16 else (30, 90, 220))
rgb.save(os.path.join(here, "rgb.png"))
pal = rgb.convert("P", palette=Image.ADAPTIVE, colors=2)
right = pal.getpixel((24, 8))
pal.info["transparency"] = right
pal.save(os.path.join(here, "palette-alpha.png"), transparency=right)
Image.new("I;16", (4, 4), 30000).save(os.path.join(here, "grey16.png"))
rgb.save(os.path.join(here, "jpeg-named.png"), format="JPEG", quality=95, subsampling=0)
