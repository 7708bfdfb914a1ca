"""Import time of ``credlti.lti`` against pylti1p3's launch module, in fresh interpreters.

Each sample starts a new ``python -c "import X"`` and measures its wall time; the floor
is an interpreter that imports nothing (``python -c pass``), subtracted from both. The
target: ``import credlti.lti`` is not slower than ``import pylti1p3.message_launch``
(pylti1p3 2.0.0; ``nox -s bench`` installs it). Also checked: which heavy modules the
import loads (no vault, no jsonschema, no adapter, no SQLAlchemy).

Run: ``python benchmarks/imports.py [--repeat N] [--json]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time

TARGET = 1.0  # credlti.lti / pylti1p3.message_launch must be at most this
HEAVY = ("credlti.credentials", "credlti.adapters", "jsonschema", "sqlalchemy", "redis")


def _sample(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603
    return time.perf_counter() - start


def _best(code: str, repeat: int) -> float:
    return min(_sample(code) for _ in range(repeat))


def _loaded(module: str) -> list[str]:
    code = (
        f"import sys, {module}; print(' '.join(m for m in sys.modules if m.startswith({HEAVY!r})))"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return sorted(set(out.split()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="samples per import (best of)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    floor = _best("pass", args.repeat)
    ours = _best("import credlti.lti", args.repeat) - floor
    has_peer = importlib.util.find_spec("pylti1p3") is not None
    peer = _best("import pylti1p3.message_launch", args.repeat) - floor if has_peer else None
    ratio = ours / peer if peer else None
    result = {
        "repeat": args.repeat,
        "interpreter_ms": round(floor * 1000, 1),
        "import_ms": {
            "credlti.lti": round(ours * 1000, 1),
            "pylti1p3.message_launch": round(peer * 1000, 1) if peer is not None else None,
        },
        "ratio_credlti_over_pylti1p3": round(ratio, 3) if ratio is not None else None,
        "target_max": TARGET,
        "pass": ratio <= TARGET if ratio is not None else None,
        "heavy_modules_loaded": _loaded("credlti.lti"),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"interpreter start (floor, subtracted): {result['interpreter_ms']} ms")
    print(f"import credlti.lti:                    {result['import_ms']['credlti.lti']} ms")
    if peer is None:
        print("import pylti1p3.message_launch:        (pylti1p3 not installed; nox -s bench)")
    else:
        print(
            f"import pylti1p3.message_launch:        "
            f"{result['import_ms']['pylti1p3.message_launch']} ms"
        )
        print(f"ratio credlti / pylti1p3: {ratio:.2f} (target <= {TARGET}) -> {result['pass']}")
    print(f"heavy modules loaded by credlti.lti: {result['heavy_modules_loaded'] or 'none'}")


if __name__ == "__main__":
    main()
