"""Every ```python block in docs/*.md and README.md runs, so the docs cannot rot.

Blocks of one file run in order in one shared namespace (later blocks may use names
from earlier ones). A block whose first line is ``# not-run`` is skipped from execution
but still compiled, so it must at least be valid Python (use it for framework
snippets whose server part cannot run here; they are covered by tests/test_examples.py).
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([*ROOT.joinpath("docs").glob("*.md"), ROOT / "README.md"])
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_doc_code_blocks_run(path: Path) -> None:
    blocks = BLOCK.findall(path.read_text(encoding="utf-8"))
    # A real module, so dataclasses and pickling work in doc blocks as in user code.
    module = types.ModuleType(f"docs_{path.stem.replace('-', '_')}")
    sys.modules[module.__name__] = module
    try:
        for index, block in enumerate(blocks):
            # dont_inherit: doc blocks must not silently get this file's __future__ flags.
            code = compile(block, f"{path.name}[block {index}]", "exec", dont_inherit=True)
            if block.lstrip().startswith("# not-run"):
                continue
            exec(code, module.__dict__)  # noqa: S102 - running our own documentation
    finally:
        del sys.modules[module.__name__]
