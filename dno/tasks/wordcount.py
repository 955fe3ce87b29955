"""Write exactly N words: a length-control task whose oracle gives partial credit.

Score on the 0-6 scale: 6 − |words − N|, floored at 0. Every response gets a graded score, so even a
randomly initialised model's samples differ in score, which makes this the task of the tiny test config.
"""

from __future__ import annotations

import random

from dno.errors import DnoError
from dno.tasks.base import Task, register_task

NAME = "wordcount"
TOPICS = [
    "the sea",
    "a dog",
    "tea",
    "stars",
    "a city",
    "rain",
    "a book",
    "spring",
    "a song",
    "a tree",
    "a bridge",
    "clouds",
    "a lamp",
    "autumn",
    "a boat",
    "cheese",
    "a clock",
    "the wind",
    "a map",
    "honey",
]

TEMPLATES = [
    "Write about {t} in exactly {n} words.",
    "Write exactly {n} words about {t}.",
    "Use exactly {n} words to write about {t}.",
    "Write a sentence of exactly {n} words about {t}.",
]
# Out-of-distribution phrasings and topics: never in the training prompts.
OOD = [
    "Describe {t} using precisely {n} words.",
    "Give me a {n}-word sentence about {t}.",
    "In exactly {n} words, say something about {t}.",
    "Say something about {t}; your reply must be {n} words long, no more, no less.",
]
OOD_TOPICS = ["a volcano", "chess", "a harbor", "a violin", "the night sky", "a kite", "soup", "a lighthouse"]


@register_task
class WordCount(Task):
    name = NAME
    fields = ("n",)

    def generate(self, rng: random.Random) -> dict:
        n = rng.randint(3, 10)
        return {"task": NAME, "prompt": rng.choice(TEMPLATES).format(t=rng.choice(TOPICS), n=n), "n": n}

    def generate_ood(self, rng: random.Random) -> dict:
        n = rng.randint(3, 10)
        return {"task": NAME, "prompt": rng.choice(OOD).format(t=rng.choice(OOD_TOPICS), n=n), "n": n}

    def check(self, record: dict, where: str) -> None:
        super().check(record, where)
        if isinstance(record["n"], bool) or not isinstance(record["n"], int) or record["n"] < 1:
            raise DnoError(f"{where}: the wordcount oracle needs a positive integer `n`, got {record['n']!r}")

    def score(self, record: dict, response: str) -> tuple[float, dict]:
        words = len(response.split())
        return float(max(0, 6 - abs(words - record["n"]))), {"words": words}
