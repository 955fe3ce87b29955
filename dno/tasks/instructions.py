"""Instruction following with checkable constraints (a small IFEval).

A short writing request on a topic plus one or two constraints. Oracle score on the 0-6 scale:
0 for an empty answer; 0.5 for an answer that does not answer the request (below); else
1 + 5 x (fraction of constraints that hold). Each constraint is data ({"type": ..., args}) so a user's own
prompts file can carry constraints too.

Constraints alone are easy to satisfy without answering: trained against them, a policy learned to reply
"happy blue" to "Write one sentence about a river. Start with "happy". Finish with "blue"." So a record that
names its `topic` (every generated one does; a user's row may) also asks for an answer: at least
MIN_WORDS words that mention the topic (unless a constraint forbids the topic's word).
"""

from __future__ import annotations

import random
import re

from dno.errors import DnoError
from dno.tasks.base import Task, register_task

NAME = "instructions"

TOPICS = [
    "the ocean",
    "a cat",
    "coffee",
    "the moon",
    "a forest",
    "rain",
    "a library",
    "bicycles",
    "winter",
    "a garden",
    "music",
    "the city",
    "mountains",
    "bread",
    "a river",
    "friendship",
    "the sun",
    "trains",
    "birds",
    "a storm",
    "apples",
    "the desert",
    "snow",
    "a museum",
]
REQUESTS = [
    "Write one sentence about {t}.",
    "Describe {t} briefly.",
    "Say something nice about {t}.",
    "Give a short fact about {t}.",
    "Write a short line about {t}.",
    "Write a few words on {t}.",
    "Comment on {t} in a sentence.",
]
# Out-of-distribution requests, topics and constraint wordings: never in the training prompts.
OOD_REQUESTS = [
    "Compose a brief remark on {t}.",
    "Tell me something about {t}.",
    "Share a thought about {t}.",
    "Jot down a line on {t}.",
]
OOD_TOPICS = ["a volcano", "chess", "a harbor", "a violin", "the night sky", "a kite", "soup", "a lighthouse"]
OOD_WORDING = {
    "max_words": "Your reply must not exceed {n} words.",
    "include_word": 'Make sure the word "{word}" appears in it.',
    "forbid_word": 'Avoid the word "{word}" entirely.',
    "lowercase": "Write everything in lowercase, no capitals at all.",
    "uppercase": "Respond in ALL CAPS.",
    "end_with": 'Make "{word}" the very last word.',
    "start_with": 'Begin with the word "{word}".',
    "bullets": 'Give exactly {n} items as a list, each line starting with "- ".',
}
MIN_WORDS = 3
REPAIR_MIN_WORDS = 5  # a repaired answer keeps a margin over MIN_WORDS: answers at the bar taught too-short ones
WORDS = ["blue", "happy", "quiet", "bright", "green", "gentle", "warm", "small", "old", "calm"]


_PUNCTUATION = ".,;:!?\"'()*-"  # around a word, not part of it


def _strip(word: str) -> str:
    return word.strip(_PUNCTUATION).lower()


def _words(text: str) -> list[str]:
    return [_strip(w) for w in text.split() if _strip(w)]


def _bullets(text: str) -> int:
    return sum(1 for line in text.splitlines() if re.match(r"^\s*[-*•]\s+\S", line))


def _forms(noun: str) -> set[str]:
    """A topic's head noun in the singular and the plural (regular forms), lowercase."""
    n = noun.lower()
    singular = n[:-3] + "y" if n.endswith("ies") else n[:-1] if n.endswith("s") else n
    forms = {n, singular, singular + "s", singular + "es"}
    if singular.endswith("y"):
        forms.add(singular[:-1] + "ies")
    return forms


def answers_request(response: str, record: dict) -> bool:
    """At least MIN_WORDS words, one of them the topic's head noun (either number), unless it is forbidden."""
    words = _words(response)
    head = record["topic"].split()[-1].lower()
    forbidden = {c["word"].lower() for c in record["constraints"] if c["type"] == "forbid_word"}
    return len(words) >= MIN_WORDS and (head in forbidden or bool(_forms(head) & set(words)))


# type -> (instruction text, check(response, constraint) -> bool)
CONSTRAINTS = {
    "max_words": ("Use at most {n} words.", lambda r, c: len(r.split()) <= c["n"]),
    "include_word": ('Include the word "{word}".', lambda r, c: c["word"].lower() in _words(r)),
    "forbid_word": ('Do not use the word "{word}".', lambda r, c: c["word"].lower() not in _words(r)),
    "lowercase": ("Use only lowercase letters.", lambda r, c: r == r.lower() and any(ch.isalpha() for ch in r)),
    "uppercase": (
        "Write your whole answer in capital letters.",
        lambda r, c: r == r.upper() and any(ch.isalpha() for ch in r),
    ),
    "end_with": ('End your answer with the word "{word}".', lambda r, c: _words(r)[-1:] == [c["word"].lower()]),
    "start_with": ('Start your answer with the word "{word}".', lambda r, c: _words(r)[:1] == [c["word"].lower()]),
    "bullets": ('Answer with exactly {n} bullet points, each starting with "- ".', lambda r, c: _bullets(r) == c["n"]),
}
# More training wordings of each constraint (the first is CONSTRAINTS' own): the skill, not one sentence.
PHRASINGS = {
    "max_words": ["Keep it to {n} words or fewer."],
    "include_word": ['Use the word "{word}" somewhere.'],
    "forbid_word": ['Never say "{word}".'],
    "lowercase": ["Do not use any capital letters."],
    "uppercase": ["Use uppercase letters only."],
    "end_with": ['Finish with the word "{word}".'],
    "start_with": ['Open with the word "{word}".'],
    "bullets": ['Reply as exactly {n} bullet points, each starting with "- ".'],
}
# Pairs that contradict each other are never drawn together.
_CLASHES = {
    frozenset(p)
    for p in [
        ("lowercase", "uppercase"),
        ("include_word", "forbid_word"),
        ("max_words", "bullets"),
        ("end_with", "bullets"),
        ("start_with", "bullets"),
    ]
}


def _draw_constraint(kind: str, rng: random.Random, topic: str) -> dict:
    if kind == "max_words":
        return {"type": kind, "n": rng.randint(5, 12)}
    if kind == "bullets":
        return {"type": kind, "n": rng.randint(2, 3)}
    if kind == "forbid_word":
        return {"type": kind, "word": topic.split()[-1]}
    if kind in ("include_word", "end_with", "start_with"):
        return {"type": kind, "word": rng.choice(WORDS)}
    return {"type": kind}


def _phrase(constraint: dict, rng: random.Random) -> str:
    """One of the training wordings of a constraint, drawn."""
    kind = constraint["type"]
    return rng.choice([CONSTRAINTS[kind][0], *PHRASINGS[kind]]).format(**constraint)


def describe(constraint: dict) -> str:
    return CONSTRAINTS[constraint["type"]][0].format(**constraint)


# Edits that make one constraint hold, in the order `repair` applies them: content first, then the words that must
# open or close the answer, then the layout, then the letter case (which must see every word). Each edit keeps the
# answer a sentence: a repaired answer teaches its form, and broken ones ("Green the city is a.") taught the policy
# to put the word before an echo of the request, which other wordings of the request then got.
_ADDS_A_WORD = {"include_word", "start_with", "end_with"}
# Words a cut-off sentence must not end on ("... clings to." reads as broken).
_DANGLING = set("a an the of to and or but in on at for with from by as is are was its their that which".split())


def _pronoun(word: str, first: bool) -> str:
    """What stands in for a forbidden noun: "it", or "they" for a plural."""
    plural = word.endswith("s") and not word.endswith("ss")
    return ("They" if first else "they") if plural else ("It" if first else "it")


def _without(text: str, word: str) -> str:
    """`text` with the forbidden `word` (and its article) replaced by a pronoun, or dropped where it is not a noun."""
    out: list[str] = []
    for token in text.split():
        if _strip(token) != word.lower():
            out.append(token)
            continue
        first = not out or out[-1].endswith((".", "!", "?"))
        if out and _strip(out[-1]) in ("a", "an", "the"):
            first = out[-1][:1].isupper()
            out.pop()
        core = token.strip(_PUNCTUATION)
        head, tail = token.split(core, 1)  # the punctuation around the word stays
        out.append(head + _pronoun(word.lower(), first and not head) + tail)
    return " ".join(out)


def _cut(words: list[str], n: int) -> str:
    """The first `n` words as a sentence: never ending on an article or a preposition."""
    words = words[: max(1, n)]
    while len(words) > 1 and _strip(words[-1]) in _DANGLING:
        words.pop()
    return " ".join(words).rstrip(",;:-") + "."


def _items(text: str, n: int) -> list[str] | None:
    """`text` dealt into `n` list items: at its clause breaks where it has enough, else by words."""
    text = " ".join(line.strip(" -*•") for line in text.splitlines())
    clauses = [c.strip(" ,;") for c in re.split(r"(?<=[.;,!?])\s+", text) if c.strip(" ,;")]
    pieces = clauses if len(clauses) >= n else text.split()
    if len(pieces) < n:
        return None
    size = -(-len(pieces) // n)
    return [" ".join(pieces[i : i + size]) for i in range(0, len(pieces), size)]


def _echoes(text: str, record: dict, span: int = 4) -> bool:
    """Whether `text` repeats `span` words in a row of the request: an echo of the request, not an answer to it."""
    request = record.get("prompt") or " ".join(m.get("content", "") for m in record.get("messages", []))
    said = _words(request)
    grams = {tuple(said[i : i + span]) for i in range(len(said) - span + 1)}
    words = _words(text)
    return any(tuple(words[i : i + span]) in grams for i in range(len(words) - span + 1))


def _edit(text: str, c: dict, budget: int) -> str | None:
    kind, word = c["type"], c.get("word", "")
    if kind == "forbid_word":
        return _without(text, word)
    if kind == "max_words":  # leave room for the words later edits add
        return text if len(text.split()) <= c["n"] else _cut(text.split(), c["n"] - budget)
    if kind == "include_word":
        return text if word.lower() in _words(text) else text.rstrip(" .!?") + f", {word}."
    if kind == "start_with":
        return text if _words(text)[:1] == [word.lower()] else f"{word.capitalize()}: {text[:1].lower()}{text[1:]}"
    if kind == "end_with":
        return text if _words(text)[-1:] == [word.lower()] else text.rstrip(" .!?,;:") + f", {word}."
    if kind == "bullets":
        items = _items(text, c["n"])
        return None if items is None or len(items) != c["n"] else "\n".join("- " + item for item in items)
    return text.upper() if kind == "uppercase" else text.lower()


_ORDER = ["forbid_word", "max_words", "include_word", "start_with", "end_with", "bullets", "lowercase", "uppercase"]


def check_constraints(constraints: object, where: str) -> None:
    """Raise a DnoError naming `where` if a user's constraint list is malformed."""
    if not isinstance(constraints, list) or not constraints:
        raise DnoError(f"{where}: `constraints` must be a non-empty list")
    for c in constraints:
        if not isinstance(c, dict) or c.get("type") not in CONSTRAINTS:
            raise DnoError(f"{where}: unknown constraint {c!r} (known types: {', '.join(sorted(CONSTRAINTS))})")
        try:
            describe(c)
        except KeyError as e:
            raise DnoError(f"{where}: constraint {c['type']!r} needs field {e}") from None


@register_task
class Instructions(Task):
    name = NAME
    fields = ("constraints",)
    optional_fields = ("topic",)

    def generate(self, rng: random.Random) -> dict:
        return self._draw(rng, TOPICS, REQUESTS, lambda c: _phrase(c, rng))

    def generate_ood(self, rng: random.Random) -> dict:
        return self._draw(rng, OOD_TOPICS, OOD_REQUESTS, lambda c: OOD_WORDING[c["type"]].format(**c))

    @staticmethod
    def _draw(rng: random.Random, topics: list[str], requests: list[str], wording) -> dict:
        topic = rng.choice(topics)
        kinds = [rng.choice(sorted(CONSTRAINTS))]
        if rng.random() < 0.5:
            second = rng.choice(
                [k for k in sorted(CONSTRAINTS) if k != kinds[0] and frozenset((k, kinds[0])) not in _CLASHES]
            )
            kinds.append(second)
        constraints = [_draw_constraint(k, rng, topic) for k in kinds]
        text = " ".join([rng.choice(requests).format(t=topic)] + [wording(c) for c in constraints])
        return {"task": NAME, "prompt": text, "constraints": constraints, "topic": topic}

    def check(self, record: dict, where: str) -> None:
        super().check(record, where)
        check_constraints(record["constraints"], where)
        topic = record.get("topic")
        if topic is not None and (not isinstance(topic, str) or not topic.strip()):
            raise DnoError(f"{where}: `topic` must be a non-empty string (the subject an answer must mention)")

    def repair(self, record: dict, responses: list[str]) -> str | None:
        """Among the responses that answer the request and do not echo it, the one that needs the fewest edits
        (then the shortest), edited until every constraint holds (checked by `score`) and still a full answer of
        REPAIR_MIN_WORDS words, unless a word limit leaves less room. Fewest edits: each edit is a seam the policy
        learns too. Shortest: a long sample edited teaches length as well."""
        constraints = record["constraints"]
        budget = sum(c["type"] in _ADDS_A_WORD for c in constraints)
        # under a word limit the cut may end a word short of it (never on an article or a preposition)
        least = min([REPAIR_MIN_WORDS] + [c["n"] - 1 for c in constraints if c["type"] == "max_words"])
        answers = []
        for response in responses:
            text = response.strip()
            score, info = self.score(record, text)
            if score == 6.0:
                return None  # the policy already wrote a right answer: nothing to teach
            if text and (not record.get("topic") or answers_request(text, record)) and not _echoes(text, record):
                answers.append((-sum(info["held"]), len(text.split()), text))
        for _, _, text in sorted(answers):
            for c in sorted(constraints, key=lambda c: _ORDER.index(c["type"])):
                text = _edit(text, c, budget) if text else None
            if text and len(text.split()) >= least and self.score(record, text)[0] == 6.0:
                return text
        return None

    def score(self, record: dict, response: str) -> tuple[float, dict]:
        if not response.strip():
            return 0.0, {"held": []}
        held = [bool(CONSTRAINTS[c["type"]][1](response.strip(), c)) for c in record["constraints"]]
        # records without a topic (a user's rows; runs made before the check) are scored on constraints alone
        if record.get("topic") and not answers_request(response, record):
            return 0.5, {"held": held, "answers_request": False}
        return round(1.0 + 5.0 * sum(held) / len(held), 4), {"held": held}
