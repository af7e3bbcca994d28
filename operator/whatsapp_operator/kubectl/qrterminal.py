"""Show a QR-code PNG (as GREEN-API sends it) in a terminal.

Decodes the PNG with the standard library only (zlib), finds the module size
from the quiet zone and the first finder pattern, and draws two module rows per
text line with Unicode half blocks, black on white so phones can scan it from a
dark terminal too.
"""

from __future__ import annotations

import struct
import zlib

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


class PngError(ValueError):
    """The image is not a PNG this module can read, or shows no QR code."""

    pass


def _chunks(data: bytes) -> dict[bytes, bytes]:
    if not data.startswith(_SIGNATURE):
        raise PngError("not a PNG image")
    found: dict[bytes, bytes] = {}
    position = len(_SIGNATURE)
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        found[kind] = found.get(kind, b"") + body
        position += 12 + length
        if kind == b"IEND":
            break
    return found


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_dark_pixels(data: bytes) -> list[list[bool]]:
    """Rows of pixels, True where the pixel is dark (luma below half)."""
    chunks = _chunks(data)
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    if interlace or color not in _CHANNELS or depth not in (1, 2, 4, 8):
        raise PngError("unsupported PNG layout")
    channels = _CHANNELS[color]
    bits_per_pixel = depth * channels
    stride = (width * bits_per_pixel + 7) // 8
    step = max(1, bits_per_pixel // 8)
    raw = zlib.decompress(chunks[b"IDAT"])
    palette = chunks.get(b"PLTE", b"")
    rows: list[list[bool]] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - step] if i >= step else 0
            b, c = previous[i], previous[i - step] if i >= step else 0
            line[i] = (line[i] + (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]) & 0xFF
        previous = line
        rows.append([_dark(line, x, depth, color, palette) for x in range(width)])
    return rows


def _dark(line: bytearray, x: int, depth: int, color: int, palette: bytes) -> bool:
    if depth < 8:
        per_byte = 8 // depth
        byte = line[x // per_byte]
        shift = 8 - depth * (x % per_byte + 1)
        value = (byte >> shift) & ((1 << depth) - 1)
        if color == 3:
            r, g, b = palette[value * 3 : value * 3 + 3]
            return (r + g + b) < 384
        return value < (1 << depth) // 2
    channels = _CHANNELS[color]
    pixel = line[x * channels : (x + 1) * channels]
    if color == 3:
        r, g, b = palette[pixel[0] * 3 : pixel[0] * 3 + 3]
        return (r + g + b) < 384
    if color in (0, 4):
        return pixel[0] < 128
    return sum(pixel[:3]) < 384


def modules(pixels: list[list[bool]]) -> list[list[bool]]:
    """Sample the QR modules: the module size is the top-left finder's edge width / 7."""
    first = next((row for row in pixels if any(row)), None)
    if first is None:
        raise PngError("no dark pixels: not a QR code")
    x0 = first.index(True)
    run = 0
    while x0 + run < len(first) and first[x0 + run]:
        run += 1
    module = max(1, run // 7)
    count = len(pixels[0]) // module
    middle = module // 2
    return [
        [pixels[r * module + middle][c * module + middle] for c in range(count)]
        for r in range(len(pixels) // module)
    ]


def render(png: bytes) -> str:
    """The QR code in `png` as text, two module rows per line; PngError if it cannot be read."""
    grid = modules(decode_dark_pixels(png))
    if len(grid) % 2:
        grid.append([False] * len(grid[0]))
    lines = []
    for top, bottom in zip(grid[0::2], grid[1::2], strict=True):
        chars = []
        for upper, lower in zip(top, bottom, strict=True):
            # Light modules are drawn, dark ones left as background: white-on-black
            # terminal glyphs render the code with the right polarity.
            chars.append(
                {(False, False): "█", (False, True): "▀", (True, False): "▄", (True, True): " "}[
                    (upper, lower)
                ]
            )
        lines.append("".join(chars))
    return "\n".join(lines)
