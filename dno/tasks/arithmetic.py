"""Arithmetic with an exact answer: "What is 37 + 48? Answer with just the number." (or another phrasing)

Two-digit addition: SmolLM2-135M gets about one sample in five right, which leaves room to improve
(subtraction was tried: about 3%, too few right samples to learn from).

Graded oracle on the 0-6 scale of the DNO rubric, so that margins mean something:
  0  no number at all
  1  a number, but the last number is wrong
  4  the last number is the answer, but wordy (more than `CONCISE_WORDS` words)
  6  the answer, concisely
"""

from __future__ import annotations

import random
import re

from dno.errors import DnoError
from dno.tasks.base import Task, register_task

NAME = "arithmetic"
CONCISE_WORDS = 6
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


# Training phrasings: several, so that the policy learns the skill rather than one template's surface.
TEMPLATES = [
    "What is {a} + {b}? Answer with just the number.",
    "What is the sum of {a} and {b}? Answer with just the number.",
    "Find {a} + {b}. Write only the number.",
    "{a} + {b} = ? Reply with the number only.",
    "How much is {a} plus {b}? Answer with a single number.",
    "Work out {a} + {b} and give only the number.",
]
# Out-of-distribution phrasings: wording and templates the training prompts never use.
OOD_TWO = [
    "Add {a} and {b}. Reply with only the result.",
    "{a} plus {b} equals what? Give just the number.",
    "Compute the sum of {a} and {b}; respond with the number alone.",
    "I have {a} apples and buy {b} more. How many apples do I have now? Only the number, please.",
    "Calculate {a}+{b} and state the total, nothing else.",
    "What do you get when you add {b} to {a}? Just the number.",
]
OOD_THREE = [
    "Add {a}, {b} and {c}. Reply with only the result.",
    "What is the total of {a}, {b} and {c}? Only the number.",
]


def _plain(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _terms(record: dict) -> list[str]:
    """The numbers of the prompt, as written (thousands separators dropped)."""
    return _NUMBER.findall(record["messages"][-1]["content"].replace(",", ""))


def last_number(text: str) -> float | None:
    found = _NUMBER.findall(text.replace(",", ""))
    return float(found[-1]) if found else None


@register_task
class Arithmetic(Task):
    name = NAME
    fields = ("answer",)

    def generate(self, rng: random.Random) -> dict:
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        return {"task": NAME, "prompt": rng.choice(TEMPLATES).format(a=a, b=b), "answer": a + b}

    def generate_ood(self, rng: random.Random) -> dict:
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        if rng.random() < 0.25:  # a neighbouring skill: three small terms
            c = rng.randint(1, 9)
            return {"task": NAME, "prompt": rng.choice(OOD_THREE).format(a=a, b=b, c=c), "answer": a + b + c}
        return {"task": NAME, "prompt": rng.choice(OOD_TWO).format(a=a, b=b), "answer": a + b}

    def check(self, record: dict, where: str) -> None:
        super().check(record, where)
        answer = record["answer"]
        if isinstance(answer, bool) or not isinstance(answer, (int, float)):
            raise DnoError(
                f"{where}: the arithmetic oracle needs a number in `answer`, got {answer!r} (a row the "
                'oracle cannot check needs an llm/api judge and a `task` naming it, e.g. "qa")'
            )

    def reference(self, record: dict) -> str:
        """The sum written out, "37 + 48 = 85", when the prompt's numbers add up to the answer and that is concise;
        else the answer alone. Worked, not the bare number: trained on bare numbers, SmolLM2 dropped the
        "a + b =" it computes with and guessed (docs/methods.md)."""
        answer = _plain(record["answer"])
        terms = _terms(record)
        worked = f"{' + '.join(terms)} = {answer}"
        added_up = len(terms) > 1 and abs(sum(map(float, terms)) - float(record["answer"])) < 1e-9
        return worked if added_up and len(worked.split()) <= CONCISE_WORDS else answer

    def repair(self, record: dict, responses: list[str]) -> str | None:
        """The shortest response that shows its working (the prompt's terms, in order, then a number) with that
        last number set to the answer: the policy's own way of writing the sum, made right. Never a bare number,
        which taught SmolLM2 to guess (the `reference` docstring); None when no response shows its working."""
        terms = _terms(record)
        for response in sorted(responses, key=lambda r: len(r.split())):
            text = response.strip().replace(",", "")
            if self.score(record, text)[0] == 6.0:
                return None  # the policy already wrote a right answer: nothing to teach
            found = list(_NUMBER.finditer(text))
            if len(terms) < 2 or [m.group() for m in found[:-1]] != terms:
                continue
            last = found[-1]
            fixed = text[: last.start()] + _plain(record["answer"]) + text[last.end() :]
            if self.score(record, fixed)[0] == 6.0:
                return fixed
        return None

    def score(self, record: dict, response: str) -> tuple[float, dict]:
        value = last_number(response)
        if value is None:
            return 0.0, {"number": None, "correct": False}
        correct = abs(value - float(record["answer"])) < 1e-9
        words = len(response.split())
        if not correct:
            return 1.0, {"number": value, "correct": False}
        return (6.0 if words <= CONCISE_WORDS else 4.0), {"number": value, "correct": True, "words": words}
