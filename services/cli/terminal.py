"""Keep operators' terminals safe: control characters in printed text become visible escapes.

Certificate data (holder names, numbers, reasons), file names and command-line
arguments reach the output of ``certctl`` and ``certverify``; printed raw, an
ESC sequence could recolour or clear the screen, a carriage return overwrite
a line, a bidirectional override reorder what an operator reads. :func:`escape`
writes each such character as a visible escape:

* C0 controls except newline and tab, as ``\\xNN``;
* DEL and the C1 controls (U+007F–U+009F), lone surrogates (U+D800–U+DFFF) and
  the Unicode bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E,
  U+2066–U+2069), as ``\\uNNNN``.

The ``\\uNNNN`` form keeps JSON output valid and its value unchanged (inside a
JSON string it is the same character; ``json.dumps`` already escapes C0).
:func:`install` wraps ``sys.stdout`` and ``sys.stderr`` once, at each CLI's
entry point, so every print path — ``print``, ``sys.stdout.write``, binary
writes to ``sys.stdout.buffer``, logging, argparse messages, progress bars —
goes through it. On ``sys.stderr`` a write may *start* with carriage returns,
which is how progress bars (tqdm) redraw their line; a carriage return
anywhere else is escaped, so text cannot overwrite what precedes it on a line.
Standard library only: it loads before ``--help`` runs.
"""

from __future__ import annotations

import codecs
import re
import sys
from typing import Any, TextIO, cast

#: Unicode bidirectional formatting controls.
BIDI_CONTROLS = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ALWAYS = (0x7F, *range(0x80, 0xA0), *range(0xD800, 0xE000), *BIDI_CONTROLS)
#: The C0 controls printed as they are.
KEEPS = "\n\t"
_UNSAFE_ALWAYS = "\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"


class _Escaper:
    """Escapes everything unsafe except the C0 controls in ``keep``."""

    def __init__(self, keep: str) -> None:
        c0 = [c for c in range(0x20) if chr(c) not in keep]
        self.table = {c: f"\\x{c:02x}" for c in c0} | {c: f"\\u{c:04x}" for c in _ALWAYS}
        self.unsafe = re.compile("[" + "".join(re.escape(chr(c)) for c in c0) + _UNSAFE_ALWAYS + "]")

    def __call__(self, text: str) -> str:
        return text if self.unsafe.search(text) is None else text.translate(self.table)


_ESCAPER = _Escaper(KEEPS)


def escape(text: str) -> str:
    """``text`` with every control (but newline and tab), lone surrogate and bidi control escaped."""
    return _ESCAPER(text)


class EscapingWriter:
    """A text stream that escapes (:func:`escape`) everything written, then passes it to ``stream``.

    ``leading`` characters (``"\\r"`` for stderr) pass unescaped at the start
    of a write only. Every other attribute (``fileno``, ``isatty``,
    ``encoding``, ...) is the wrapped stream's; ``buffer`` escapes binary
    writes too (decoded as UTF-8, invalid bytes shown as ``\\udcNN``).
    """

    def __init__(self, stream: TextIO, leading: str = "") -> None:
        self.stream = stream
        self.leading = leading
        self._buffer: _EscapingBuffer | None = None

    def write(self, text: str) -> int:
        """Write ``text`` escaped; return its length (as text streams do)."""
        rest = text.lstrip(self.leading) if self.leading else text
        self.stream.write(text[: len(text) - len(rest)] + escape(rest))
        return len(text)

    def writelines(self, lines: Any) -> None:
        """Write each line, escaped."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flush the wrapped stream."""
        self.stream.flush()

    @property
    def buffer(self) -> _EscapingBuffer:
        """A binary view whose writes are decoded, escaped and written through this writer."""
        if self._buffer is None:
            self._buffer = _EscapingBuffer(self)
        return self._buffer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class _EscapingBuffer:
    """``EscapingWriter.buffer``: bytes in, escaped text out, in order with the text writes."""

    def __init__(self, writer: EscapingWriter) -> None:
        self._writer = writer
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")

    def write(self, data: bytes) -> int:
        """Decode ``data`` (incrementally) and write it escaped; return its length."""
        self._writer.write(self._decoder.decode(bytes(data)))
        return len(data)

    def flush(self) -> None:
        """Write out a partial character left over (escaped), then flush."""
        rest = self._decoder.decode(b"", final=True)
        if rest:
            self._writer.write(rest)
        self._writer.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer.stream.buffer, name)


def install() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` in an :class:`EscapingWriter` (once; idempotent).

    ``sys.stderr`` lets carriage returns through at the start of a write,
    which is how progress bars redraw their line.
    """
    if sys.stdout is not None and not isinstance(sys.stdout, EscapingWriter):
        sys.stdout = cast(TextIO, EscapingWriter(sys.stdout))
    if sys.stderr is not None and not isinstance(sys.stderr, EscapingWriter):
        sys.stderr = cast(TextIO, EscapingWriter(sys.stderr, leading="\r"))
