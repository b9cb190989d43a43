#!/usr/bin/env python3
"""Renders a terminal screen captured with `tmux capture-pane -e -p` to a PNG, with colours.

Usage: ansi_to_png.py INPUT.ans OUTPUT.png --cols 120 --rows 35 [--font-size 16] [--font PATH] [--bold-font PATH]

The capture is fed to a pyte terminal emulator of the given size; every cell is then painted with Pillow in
DejaVu Sans Mono: the terminal's default background is dark (#1e1e1e) and its default foreground light; the eight
ANSI colours (and their bright forms, 256 colours and 24-bit colours) are mapped to a palette; bold uses the bold
face, dim blends the colour halfway to the background, reverse swaps foreground and background, underline draws a
line. Needs `pyte` and `Pillow` (pip install pyte Pillow).
"""

from __future__ import annotations

import argparse
import re
import sys

import pyte
from PIL import Image, ImageDraw, ImageFont

DEFAULT_BG = (0x1E, 0x1E, 0x1E)
DEFAULT_FG = (0xD4, 0xD4, 0xD4)

# The 16 ANSI colours (a palette close to VS Code's terminal, readable on the dark background).
PALETTE = {
    "black": (0x00, 0x00, 0x00),
    "red": (0xCD, 0x31, 0x31),
    "green": (0x0D, 0xBC, 0x79),
    "brown": (0xE5, 0xE5, 0x10),  # pyte's name for yellow
    "yellow": (0xE5, 0xE5, 0x10),
    "blue": (0x24, 0x72, 0xC8),
    "magenta": (0xBC, 0x3F, 0xBC),
    "cyan": (0x11, 0xA8, 0xCD),
    "white": (0xE5, 0xE5, 0xE5),
    "brightblack": (0x66, 0x66, 0x66),
    "brightred": (0xF1, 0x4C, 0x4C),
    "brightgreen": (0x23, 0xD1, 0x8B),
    "brightbrown": (0xF5, 0xF5, 0x43),
    "brightyellow": (0xF5, 0xF5, 0x43),
    "brightblue": (0x3B, 0x8E, 0xEA),
    "brightmagenta": (0xD6, 0x70, 0xD6),
    "brightcyan": (0x29, 0xB8, 0xDB),
    "brightwhite": (0xFF, 0xFF, 0xFF),
}
# pyte reports 256-colour indexes 0-15 as these hex values; map them to the palette above too.
HEX_16 = {
    "000000": "black", "cd0000": "red", "00cd00": "green", "cdcd00": "yellow", "0000ee": "blue",
    "cd00cd": "magenta", "00cdcd": "cyan", "e5e5e5": "white", "7f7f7f": "brightblack", "ff0000": "brightred",
    "00ff00": "brightgreen", "ffff00": "brightyellow", "5c5cff": "brightblue", "ff00ff": "brightmagenta",
    "00ffff": "brightcyan", "ffffff": "brightwhite",
}
HEX_RE = re.compile(r"^[0-9a-fA-F]{6}$")


class DimScreen(pyte.Screen):
    """A pyte screen that keeps SGR 2 (dim), which pyte drops, in the `blink` flag (the UI never blinks)."""

    def select_graphic_rendition(self, *attrs: int, **kwargs) -> None:
        if kwargs.get("private"):
            return
        translated: list[int] = []
        items = list(attrs)
        i = 0
        while i < len(items):
            attr = items[i]
            if attr in (38, 48) and i + 1 < len(items):
                # Extended colours: copy the arguments as they are (38;5;N or 38;2;R;G;B).
                count = 3 if items[i + 1] == 5 else 5 if items[i + 1] == 2 else 2
                translated.extend(items[i:i + count])
                i += count
                continue
            if attr == 2:
                translated.append(5)
            elif attr == 22:
                translated.extend([22, 25])  # normal intensity: neither bold nor dim
            elif attr in (5, 6, 25):
                pass  # real blinking is not rendered
            else:
                translated.append(attr)
            i += 1
        if attrs and not translated:
            return
        super().select_graphic_rendition(*translated)


def colour(name: str, default: tuple[int, int, int]) -> tuple[int, int, int]:
    if name == "default":
        return default
    if name in PALETTE:
        return PALETTE[name]
    if HEX_RE.match(name):
        lower = name.lower()
        if lower in HEX_16:
            return PALETTE[HEX_16[lower]]
        return (int(name[0:2], 16), int(name[2:4], 16), int(name[4:6], 16))
    return default


def blend(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


def render(text: str, cols: int, rows: int, font_path: str, bold_path: str, size: int, margin: int) -> Image.Image:
    screen = DimScreen(cols, rows)
    stream = pyte.Stream(screen)
    # capture-pane ends every line with \n; a bare \n at the bottom line would scroll, so drop the last one, and
    # make each \n a new line at column 0.
    if text.endswith("\n"):
        text = text[:-1]
    stream.feed(text.replace("\r\n", "\n").replace("\n", "\r\n"))

    regular = ImageFont.truetype(font_path, size)
    bold = ImageFont.truetype(bold_path, size)
    ascent, descent = regular.getmetrics()
    cell_w = round(regular.getlength("M"))
    cell_h = ascent + descent
    width = cols * cell_w + 2 * margin
    height = rows * cell_h + 2 * margin
    image = Image.new("RGB", (width, height), DEFAULT_BG)
    draw = ImageDraw.Draw(image)

    for y in range(rows):
        line = screen.buffer[y]
        x = 0
        while x < cols:
            char = line[x]
            data = char.data
            fg = colour(char.fg, DEFAULT_FG)
            bg = colour(char.bg, DEFAULT_BG)
            if char.reverse:
                fg, bg = bg, fg
            if char.blink:  # dim
                fg = blend(fg, bg, 0.45)
            span = 1
            # A wide character takes its cell and the (empty) next one.
            if x + 1 < cols and line[x + 1].data == "" and data:
                span = 2
            left = margin + x * cell_w
            top = margin + y * cell_h
            if bg != DEFAULT_BG:
                draw.rectangle([left, top, left + span * cell_w - 1, top + cell_h - 1], fill=bg)
            if data and data != " ":
                face = bold if char.bold else regular
                draw_cell(draw, data, left, top, cell_w * span, cell_h, fg, face)
            if char.underscore:
                draw.line([left, top + cell_h - 2, left + span * cell_w - 1, top + cell_h - 2], fill=fg)
            x += span
    return image


# Box drawing and block characters are drawn as shapes so lines join up across cells.
BLOCKS = {"▁": 1, "▂": 2, "▃": 3, "▄": 4, "▅": 5, "▆": 6, "▇": 7, "█": 8}


def draw_cell(draw: ImageDraw.ImageDraw, data: str, left: int, top: int, w: int, h: int, fg, face) -> None:
    right, bottom = left + w - 1, top + h - 1
    midx, midy = left + w // 2, top + h // 2
    if data in BLOCKS:
        filled = round(h * BLOCKS[data] / 8)
        draw.rectangle([left, bottom - filled + 1, right, bottom], fill=fg)
    elif data == "│":
        draw.line([midx, top, midx, bottom], fill=fg)
    elif data == "─":
        draw.line([left, midy, right, midy], fill=fg)
    elif data == "━":
        draw.rectangle([left, midy - 1, right, midy + 1], fill=fg)
    elif data == "▏":
        draw.line([left + 1, top, left + 1, bottom], fill=fg)
    else:
        draw.text((left, top), data, font=face, fill=fg)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input", help="the capture (tmux capture-pane -e -p), or - for standard input")
    parser.add_argument("output", help="the PNG to write")
    parser.add_argument("--cols", type=int, required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--font-size", type=int, default=16)
    parser.add_argument("--font", default="/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
    parser.add_argument("--bold-font", default="/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf")
    parser.add_argument("--margin", type=int, default=14)
    args = parser.parse_args()
    if args.input == "-":
        text = sys.stdin.read()
    else:
        with open(args.input, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    image = render(text, args.cols, args.rows, args.font, args.bold_font, args.font_size, args.margin)
    image.save(args.output, optimize=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
