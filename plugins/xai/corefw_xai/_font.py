"""A 5x7 bitmap font (printable ASCII) and text drawing into uint8 RGB images, so the numpy
pictures can carry titles and labels without a plotting library.

Each glyph is five column bytes, bit 0 at the top (the classic HD44780-style 5x7 font).
"""

from __future__ import annotations

import numpy as np

__all__ = ["draw_text", "text_size"]

_HEX = (
    "0000000000 00005f0000 0007000700 147f147f14 242a7f2a12 2313086462 3649552250 0005030000"
    " 001c224100 0041221c00 082a1c2a08 08083e0808 0050300000 0808080808 0060600000 2010080402"
    " 3e5149453e 00427f4000 4261514946 2141454b31 1814127f10 2745454539 3c4a494930 0171090503"
    " 3649494936 064949291e 0036360000 0056360000 0814224100 1414141414 0041221408 0201510906"
    " 3249794136 7e1111117e 7f49494936 3e41414122 7f4141221c 7f49494941 7f09090101 3e41415132"
    " 7f0808087f 00417f4100 2040413f01 7f08142241 7f40404040 7f0204027f 7f0408107f 3e4141413e"
    " 7f09090906 3e4151215e 7f09192946 4649494931 01017f0101 3f4040403f 1f2040201f 7f2018207f"
    " 6314081463 0304780403 6151494543 00007f4141 0204081020 41417f0000 0402010204 4040404040"
    " 0001020400 2054545478 7f48444438 3844444420 384444487f 3854545418 087e090102 081454543c"
    " 7f08040478 00447d4000 2040443d00 007f102844 00417f4000 7c04180478 7c08040478 3844444438"
    " 7c14141408 081414187c 7c08040408 4854545420 043f444020 3c4040207c 1c2040201c 3c4030403c"
    " 4428102844 0c5050503c 4464544c44 0008364100 00007f0000 0041360800 0201020402"
)
_GLYPHS = {chr(32 + i): bytes.fromhex(h) for i, h in enumerate(_HEX.split())}


def _bitmap(text: str) -> np.ndarray:
    """(7, 6 * len(text)) bool mask: one column of space after every glyph."""
    cols = []
    for ch in text:
        g = _GLYPHS.get(ch, _GLYPHS["?"])
        cols += list(g) + [0]
    bits = np.array(cols, np.uint8)[None, :] >> np.arange(7, dtype=np.uint8)[:, None]
    return (bits & 1).astype(bool)


def text_size(text: str, scale: int = 1) -> tuple[int, int]:
    """(height, width) in pixels of ``text`` drawn at ``scale``."""
    return 7 * scale, max(6 * len(text) - 1, 0) * scale


def draw_text(img: np.ndarray, text: str, top: int, left: int, scale: int = 1,
              colour=(0, 0, 0)) -> None:
    """Draw ``text`` in place into the uint8 RGB ``img`` (clipped at the borders)."""
    if not text:
        return
    mask = _bitmap(text)[:, :-1]
    if scale > 1:
        mask = np.repeat(np.repeat(mask, scale, 0), scale, 1)
    h = min(mask.shape[0], img.shape[0] - top)
    w = min(mask.shape[1], img.shape[1] - left)
    if h <= 0 or w <= 0:
        return
    region = img[top:top + h, left:left + w]
    region[mask[:h, :w]] = colour
