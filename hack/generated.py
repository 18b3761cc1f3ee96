"""Write a generated file, or with --check report whether the committed one is stale (exit status 1)."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(target: Path, text: str, argv: list[str], generator: str) -> int:
    if "--check" in argv:
        if not target.exists() or target.read_text() != text:
            print(f"{target} is stale: run hack/{generator}", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    return 0
