"""The README's `v1a` verifier, run as written: tests check deliveries with the code integrators
are told to copy, so the two cannot drift apart."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import cast

README = Path(__file__).parents[2] / "README.md"
Verifier = Callable[[Sequence[str], bytes, Mapping[str, str]], bool]


def _snippet() -> str:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    [code] = [b for b in blocks if "def verify_v1a" in b]
    lines = code.splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines)


def readme_verifier() -> Verifier:
    scope: dict[str, object] = {}
    exec(compile(_snippet(), str(README), "exec"), scope)
    return cast(Verifier, scope["verify_v1a"])


verify_v1a = readme_verifier()
