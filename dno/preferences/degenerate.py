"""Detect degenerate samples (loops, stutters) so that they become automatic negatives (DNO-Prct).

A response is degenerate when a word n-gram repeats `min_repeats` times or more, or a short unit of
characters repeats back to back (e.g. "126.3333333333333", "ha ha ha ha ha ha").
"""

from __future__ import annotations

import re
from collections import Counter

_CHAR_LOOP = re.compile(r"(.{1,8}?)\1{7,}", re.DOTALL)  # a 1-8 character unit, 8+ times in a row


def is_degenerate(text: str, n: int = 3, min_repeats: int = 3) -> bool:
    if _CHAR_LOOP.search(text):
        return True
    words = text.lower().split()
    grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return bool(grams) and max(grams.values()) >= min_repeats
