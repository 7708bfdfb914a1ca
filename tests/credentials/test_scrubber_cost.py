"""The scrubber's cost grows linearly: relative timings (best of several), never absolute."""

from __future__ import annotations

import gc
import random
import string
import time
from collections.abc import Callable

from credlti.credentials import Scrubber

ALPHABET = string.ascii_letters + string.digits + "-_.+/=!@#%&?:"


def _best(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(times)


def _secrets(n: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(ALPHABET, k=rng.randint(16, 64))) for _ in range(n)]


def _log(size: int, secrets: list[str]) -> str:
    rng = random.Random(9)
    words = ["GET", "/api", "200", "lorem", "ipsum", "step", "done"]
    parts, length = [], 0
    while length < size:
        piece = rng.choice(secrets) if rng.random() < 0.02 else rng.choice(words)
        parts.append(piece)
        length += len(piece) + 1
    return " ".join(parts)[:size]


def _built(secrets: list[str]) -> Scrubber:
    scrubber = Scrubber(secrets)
    scrubber.scrub("warm")
    return scrubber


def test_scan_is_linear_in_the_text() -> None:
    secrets = _secrets(200)
    scrubber = _built(secrets)
    small, large = _log(50_000, secrets), _log(200_000, secrets)
    assert _best(lambda: scrubber.scrub(large)) < 8 * _best(lambda: scrubber.scrub(small))


def test_prefix_heavy_secret_scans_in_linear_time() -> None:
    scrubber = _built(["a" * 1000 + "b"])
    small, large = "a" * 50_000, "a" * 200_000
    assert scrubber.scrub(large) == large
    assert _best(lambda: scrubber.scrub(large)) < 8 * _best(lambda: scrubber.scrub(small))


def test_periodic_long_secret_scans_in_linear_time() -> None:
    scrubber = _built(["ab" * 400])
    small, large = "ab" * 25_000 + "!", "ab" * 100_000 + "!"
    assert scrubber.scrub(large) == "***!"
    assert _best(lambda: scrubber.scrub(large)) < 8 * _best(lambda: scrubber.scrub(small))


def test_build_is_linear_in_the_total_secret_length() -> None:
    few, many = _secrets(250), _secrets(1000)
    assert _best(lambda: _built(many)) < 8 * _best(lambda: _built(few))


def test_build_of_one_large_secret_is_linear() -> None:
    rng = random.Random(3)
    big = "".join(rng.choices(ALPHABET, k=400_000))
    quarter = big[:100_000]
    assert _best(lambda: _built([big]), 5) < 8 * _best(lambda: _built([quarter]), 5)


def test_scan_does_not_slow_down_with_many_secrets() -> None:
    """With 20x more secrets the scan of the same text costs about the same."""
    many = _secrets(2000, seed=8)
    text = _log(200_000, many[:10])
    small, large = _built(many[:100]), _built(many)
    assert _best(lambda: large.scrub(text)) < 3 * _best(lambda: small.scrub(text))
