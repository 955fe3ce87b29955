"""A noisy judge for weak-supervision studies: any judge, made wrong on purpose, reproducibly.

`build_judge` wraps the judge of `judge.type` in `NoisyJudge` when a rate of `judge.noise` is non-zero.
The noise acts on the comparisons the clean judge's scores imply (1, 0 or ½ for each pair of candidates),
with one draw per pair of distinct candidates i < j (i is shown first), in this order:

    position_bias  with this probability the first-shown candidate wins, whatever the clean verdict;
    length_bias    else, with this probability the longer one wins (characters; skipped at equal length);
    flip           else, with this probability the clean verdict is reversed (a tie stays a tie).

The candidates are then ranked by their noisy win rates (DNO's r_t) and take the clean scores in that order
(tied ranks share their scores' mean). So the noise reorders but never rescales: the scores keep the clean
judge's values, the pair thresholds keep their meaning, and no noise gives back the clean scores exactly.
With two candidates (eval, `dno agree`) each event changes the verdict exactly as stated; with more, the
ranks sum the comparisons as any pairwise judge's r_t does, and the share of pairs the noisy scores get wrong
stays close to `flip` (ties counted ½; tests/unit/judges/test_noisy.py). Last, `score_sd` adds Gaussian
noise N(0, sd²) to every score (not clipped).

Each draw comes from a SHA-256 of the seed, the prompt id and the texts it concerns, never from global
random state: reruns, resumed stages and any sharding give the same judgments. Each judgment's info keeps
the clean judgment (`clean`: scores, info) and the noise (`noise`: events per pair "i,j", the Gaussian draws,
and `wrong` of `pairs`: of the candidate pairs the clean judge orders strictly, how many the noisy scores
reverse, a noisy tie counting ½), so a report can add up the weak judge's true accuracy, 1 - wrong / pairs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from collections.abc import Sequence

from dno.judges.base import Judge, Scores, compare_from_scores, mean_win_rates


def active(noise) -> bool:
    return any((noise.position_bias, noise.length_bias, noise.flip, noise.score_sd))


def _rng(seed: int, *parts: str) -> random.Random:
    """Draws that depend only on the seed and `parts` (the prompt id and texts)."""
    digest = hashlib.sha256(json.dumps([seed, *parts], ensure_ascii=False).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def reorder(scores: Sequence[float], rates: Sequence[float]) -> list[float]:
    """The valid `scores` handed out again by `rates`: the highest score to the highest rate, and so on;
    candidates with equal rates share the mean of their scores. NaN scores stay NaN."""
    valid = sorted((i for i, s in enumerate(scores) if not math.isnan(s)), key=lambda i: -rates[i])
    slots = sorted((scores[i] for i in valid), reverse=True)
    out, q = [math.nan] * len(scores), 0
    for _, group in itertools.groupby(valid, key=lambda i: rates[i]):
        group = list(group)
        for i in group:
            out[i] = sum(slots[q : q + len(group)]) / len(group)
        q += len(group)
    return out


def wrong_pairs(noisy: Sequence[float], clean: Sequence[float]) -> tuple[float, int]:
    """(reversed pairs, a noisy tie counting ½; pairs the clean scores order strictly), NaNs left out."""
    wrong, pairs = 0.0, 0
    for i, j in itertools.combinations(range(len(clean)), 2):
        c, n = clean[i] - clean[j], noisy[i] - noisy[j]
        if c != 0 and not (math.isnan(c) or math.isnan(n)):
            pairs += 1
            wrong += 1.0 if c * n < 0 else 0.5 if n == 0 else 0.0
    return wrong, pairs


class NoisyJudge(Judge):
    """`inner`'s judgments with `noise` (a NoiseConfig) applied; see the module docstring."""

    def __init__(self, inner: Judge, noise):
        self.inner, self.noise = inner, noise
        self.name = f"{inner.name}+noise"

    def pair_event(self, prompt: dict, first: str, second: str, p: float) -> tuple[str, float] | None:
        """(what happened, the noisy P(first ≻ second)) for one clean comparison p, or None."""
        if first == second or math.isnan(p):  # the same text: no judge can tell them apart
            return None
        n = self.noise
        rng = _rng(n.seed, "pair", str(prompt.get("id")), first, second)
        u_position, u_length, u_flip = rng.random(), rng.random(), rng.random()
        if u_position < n.position_bias:
            return "position", 1.0
        if u_length < n.length_bias and len(first) != len(second):
            return "length", float(len(first) > len(second))
        if u_flip < n.flip:
            return "flip", 1.0 - p
        return None

    def perturb(self, prompt: dict, candidates: Sequence[str], clean: Scores) -> Scores:
        s = clean.scores
        p = [[compare_from_scores(a, b) for b in s] for a in s]
        events = {}
        for i, j in itertools.combinations(range(len(s)), 2):
            hit = self.pair_event(prompt, candidates[i], candidates[j], p[i][j])
            if hit is not None:
                events[f"{i},{j}"], p[i][j] = hit
                p[j][i] = 1.0 - p[i][j]
        rates = dict.fromkeys(candidates, 0.0)  # one rate per distinct text: a repeated text is never told apart
        for c, r in zip(candidates, mean_win_rates(p)):
            rates[c] += r / candidates.count(c)
        scores = reorder(s, [rates[c] for c in candidates]) if events else list(s)
        gauss = None
        if self.noise.score_sd:
            gauss = [
                _rng(self.noise.seed, "score", str(prompt.get("id")), c).gauss(0, self.noise.score_sd)
                for c in candidates
            ]
            scores = [x + g for x, g in zip(scores, gauss)]
        wrong, pairs = wrong_pairs(scores, s)
        noise = {"events": events, "score_noise": gauss, "wrong": wrong, "pairs": pairs, "seed": self.noise.seed}
        return Scores(scores, {"clean": {"scores": list(s), "info": clean.info}, "noise": noise})

    def score(self, prompt: dict, candidates: Sequence[str]) -> Scores:
        return self.score_many([prompt], [candidates])[0]

    def score_many(self, prompts: Sequence[dict], candidates: Sequence[Sequence[str]], progress=None) -> list[Scores]:
        clean = self.inner.score_many(prompts, candidates, progress=progress)  # the inner judge's batching as is
        return [self.perturb(p, c, s) for p, c, s in zip(prompts, candidates, clean)]

    def usage(self) -> dict | None:
        return self.inner.usage()
