"""Write exactly N words: a length-control task whose oracle gives partial credit.

Score on the 0-6 scale: 6 − |words − N|, floored at 0. Every response gets a graded score, so even a
randomly initialised model's samples differ in score, which makes this the task of the tiny test config.
"""

from __future__ import annotations

import random

NAME = "wordcount"
TOPICS = ["the sea", "a dog", "tea", "stars", "a city", "rain", "a book", "spring", "a song", "a tree",
          "a bridge", "clouds", "a lamp", "autumn", "a boat", "cheese", "a clock", "the wind", "a map", "honey"]


def generate(rng: random.Random) -> dict:
    n = rng.randint(3, 10)
    return {"task": NAME, "prompt": f"Write about {rng.choice(TOPICS)} in exactly {n} words.", "n": n}


def score(record: dict, response: str) -> tuple[float, dict]:
    words = len(response.split())
    return float(max(0, 6 - abs(words - record["n"]))), {"words": words}
