"""Summarise py-spy raw profiles: ``python -m bench.profile FILE... [--top N]``.

Prints the functions with the most samples of their own (self time) and the
most samples including callees (total time), so a closing note can show the
top frames before and after a change.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def summarise(paths: list[Path], top: int) -> str:
    """The top frames by self and by total samples across ``paths``."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            samples += count
            frames = [f for f in stack.split(";") if f]
            if not frames:
                continue
            own[_short(frames[-1])] += count
            for frame in {_short(f) for f in frames}:
                total[frame] += count
    lines = [f"{samples:,} samples in {len(paths)} profile(s)", "", "self %  frame"]
    lines += [f"{100 * n / samples:5.1f}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "total %  frame"]
    lines += [f"{100 * n / samples:5.1f}  {frame}" for frame, n in total.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``func (path/to/module.py:LINE)`` -> ``func (module.py)``."""
    name, _, where = frame.partition(" (")
    module = where.rstrip(")").rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{name} ({module})" if module else name


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(summarise(args.paths, args.top))


if __name__ == "__main__":
    main()
