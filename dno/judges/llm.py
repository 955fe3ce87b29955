"""LLM judges (a local causal LM or an OpenAI-compatible API) in two modes behind the `Judge` interface.

pointwise: one request per prompt shows the model every candidate and asks for the DNO 6-point
    additive rubric as a JSON object {"1": {"reason": ..., "score": s}, ...}; scores are 0-6.
pairwise: one request per ordered pair asks for a verdict "A" or "B". P(a ≻ b) is soft when the backend
    gives log-probabilities (the A/B probability mass at the verdict token, renormalised), otherwise
    1 or 0 from the verdict. Position bias is cancelled by judging both orders and averaging
    (`position: both`), or by one order chosen by a hash of the content (`position: seeded`) so reruns
    reproduce; `calibrate` averages the two orders in log-odds instead, which cancels a constant lean towards
    "A" exactly instead of pulling every P towards ½. `score()` turns comparisons into DNO's r_t estimate:
    candidate i's score is 6 x mean_j P(i ≻ j) over the other candidates, on the same 0-6 scale as the rubric
    so that the pairing thresholds keep their meaning (pair.positive_min_score 3.5 asks for r ≥ 0.58).

Every request goes through the answer cache first. An answer that does not parse is asked again
(`parse_retries`, with a different seed and temperature ≥ 0.5) and then recorded as a failure with its
raw text: a NaN score, never a tie. Failures from the transport after all retries (timeouts, 429, 5xx)
are NaN too but are not cached, so a later run asks again; an unreachable server stops the stage.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Sequence

from dno.errors import DnoError
from dno.judges import templates
from dno.judges.backends import Aborted, APIBackend, LocalBackend, RequestFailed, check_api, logprob_mass
from dno.judges.base import JUDGES, SCALE, Judge, Scores, combine_orders, compare_from_scores, scores_from_comparisons
from dno.judges.cache import JudgeCache, key
from dno.judges.pool import run_jobs

INTERRUPT_GRACE_S = 5.0
"""After Ctrl-C, how long requests already sent may take to land in the answer cache before they are cancelled."""

# ---------------------------------------------------------------- parsing

_JSON_OBJ = re.compile(r"\{.*\}", re.S)
_LOOSE = re.compile(r'"?(?:response\s*)?(\d+)"?\s*:\s*(?:\{[^{}]*?"score"\s*:\s*)?"?(\d+(?:\.\d+)?)', re.I)


def parse_rubric(text: str, n: int) -> tuple[list[float | None], list[str]]:
    """Scores (None where missing or out of 0-6) and reasons, from the judge's JSON answer."""
    scores: list[float | None] = [None] * n
    reasons = [""] * n
    m = _JSON_OBJ.search(text)
    obj = None
    if m:
        try:
            obj = json.loads(m.group(0))
        except json.JSONDecodeError:
            obj = None
    if isinstance(obj, dict):
        for k, v in obj.items():
            idx = re.sub(r"\D", "", str(k))
            if not idx or not 1 <= int(idx) <= n:
                continue
            s = v.get("score") if isinstance(v, dict) else v
            if isinstance(v, dict):
                reasons[int(idx) - 1] = str(v.get("reason", ""))[:300]
            if isinstance(s, (int, float)) and not isinstance(s, bool) and 0 <= s <= SCALE:
                scores[int(idx) - 1] = float(s)
    if any(s is None for s in scores):  # salvage `"1": {"score": 4` / `Response 2: 5` from truncated or sloppy JSON
        for idx, s in _LOOSE.findall(text):
            if 1 <= int(idx) <= n and 0 <= float(s) <= SCALE and scores[int(idx) - 1] is None:
                scores[int(idx) - 1] = float(s)
    return scores, reasons


_VERDICT = re.compile(
    # 1. a line that is only the letter (marked up or repeated): "A", "B.", "**A**", "[[B]]", "(A)", "A: A"
    r"(?m:^[^\w\n]*(?P<alone>[AB])(?:[^\w\n]+(?P=alone))*[^\w\n]*$)"
    # 2. the letter after a verdict label: "Answer: B", "Verdict: A", "Better: B", "The better response is A",
    #    "My verdict: [[A]]"
    r"|(?i:\b(?:verdict|answer|better|winner|choice)\b)(?:\s+(?i:response))?(?:\s+(?i:is|would\s+be))?"
    r"\s*[:=-]?\s*(?:\*\*|\[\[|\(|\")?\s*(?:(?i:response)\s+)?(?P<labelled>[AB])(?![\w'])"
    # 3. "[[A]]" anywhere
    r"|\[\[(?P<bracketed>[AB])\]\]"
    # 4. a response named by its letter: "Response B is better."
    r"|(?i:\bresponse)\s+(?P<named>[AB])(?![\w'])"
)
# Only real verdict forms name a letter; prose that starts with "A" ("A cat sat on the mat") or uses the letters
# as words ("B is worse; A is better") names none. A bare-letter line wins, then labelled or bracketed letters,
# then responses named by letter; a form whose matches disagree ("Response A is longer than Response B",
# "A: A\nB: B") gives no verdict rather than a guess.


def parse_verdict(completion) -> float | None:
    """P(the response shown as A is better), or None if the answer states no verdict (see `_VERDICT`).
    With log-probabilities, P is soft: the A/B mass at the verdict letter's token."""
    found: dict[str, set[str]] = {}
    for m in _VERDICT.finditer(completion.text.strip()):
        found.setdefault("labelled" if m.lastgroup == "bracketed" else m.lastgroup, set()).add(m.group(m.lastgroup))
    form = next((f for f in ("alone", "labelled", "named") if f in found), None)
    if form is None or len(found[form]) != 1:
        return None
    (letter,) = found[form]
    for tok, alts in completion.tokens or []:
        if tok.strip(" *[]()'\"\t\n:.") == letter:
            pa, pb = logprob_mass(alts, "A"), logprob_mass(alts, "B")
            if pa + pb == 0:
                break
            floor = math.exp(min(alts.values()))  # an absent letter: at most the least likely alternative
            pa, pb = pa or min(floor, 1 - pb), pb or min(floor, 1 - pa)
            return pa / (pa + pb)
    return 1.0 if letter == "A" else 0.0


# ---------------------------------------------------------------- the judge


class LLMJudge(Judge):
    """A judge that asks a language model (`backend.complete`) through a cache; see the module docstring."""

    backend_class: type = LocalBackend

    @classmethod
    def from_config(cls, cfg, *, cache_dir=None, field_prefix: str = "judge") -> LLMJudge:
        cache = JudgeCache(cache_dir / "answers.sqlite" if cache_dir is not None else None)
        return cls(cfg, cls.backend_class(cfg, field_prefix), cache, field_prefix=field_prefix)

    @classmethod
    def check_config(cls, cfg, field_prefix: str) -> None:
        templates.load(cfg.template, cfg.mode, f"{field_prefix}.template")
        if cfg.calibrate and (cfg.mode, cfg.position) != ("pairwise", "both"):
            raise DnoError(
                f"config: `{field_prefix}.calibrate` combines the two orders of a pair: it needs "
                f"{field_prefix}.mode=pairwise and {field_prefix}.position=both (got {cfg.mode}, {cfg.position})"
            )

    def __init__(self, cfg, backend, cache: JudgeCache, *, field_prefix: str = "judge"):
        self.cfg, self.backend, self.cache = cfg, backend, cache
        self.mode = cfg.mode
        self.template = templates.load(cfg.template, cfg.mode, f"{field_prefix}.template")
        self.max_tokens = cfg.max_tokens or (384 if cfg.mode == "pointwise" else 8)
        self.concurrency = cfg.concurrency if cfg.type == "api" else 1
        self.batch = getattr(backend, "batch_size", 1)  # questions a local model answers in one generate
        self.name = f"{cfg.type}:{cfg.model or 'default'}:{cfg.mode}" + (":calibrated" if cfg.calibrate else "")
        self.settings = {
            "type": cfg.type,
            "model": cfg.model,
            "mode": cfg.mode,
            "temperature": cfg.temperature,
            "max_tokens": self.max_tokens,
            "seed": cfg.seed,
            "logprobs": cfg.logprobs,
            "parse_retries": cfg.parse_retries,
            **({"dtype": backend.dtype} if hasattr(backend, "dtype") else {}),  # a local model's answers depend on it
        }
        self._lock = threading.Lock()
        self.usage_counts = {
            "questions": 0,
            "cache_hits": 0,
            "answered": 0,
            "parse_retries": 0,
            "unparseable": 0,
            "transport_failures": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
        }
        self.started = time.perf_counter()

    # -- questions, through the cache
    def _ask(self, text: str, parse) -> dict:
        return self._ask_many([(text, parse)])[0]

    def _ask_many(self, questions: Sequence[tuple[str, object]], answered=None) -> list[dict]:
        """One record per (text, parse) question: the cached answer, or the backend's, asked `batch` at a time in
        order (a prompt's questions together: they differ in length little, and it finishes early) and re-asked
        in batches while it does not parse. A text asked twice is answered once (the second is a cache hit, as
        it would be asked later). `answered(indices, records)` is called as they land; each batch is cached
        before the next is asked."""
        out: list[dict | None] = [None] * len(questions)
        keys = [key(self.settings, self.template, [{"role": "user", "content": t}]) for t, _ in questions]
        misses: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            hit = None if k in misses else self.cache.get(k)
            if hit is None:
                misses.setdefault(k, []).append(i)
            else:
                out[i] = {**hit, "cached": True}
        with self._lock:
            self.usage_counts["questions"] += len(questions)
            self.usage_counts["cache_hits"] += len(questions) - len(misses)
        if answered is not None and len(misses) < len(questions):
            hits = [i for i in range(len(questions)) if out[i] is not None]
            answered(hits, [out[i] for i in hits])
        todo = list(misses.values())
        for b in range(0, len(todo), self.batch):
            batch = todo[b : b + self.batch]
            for same, rec in zip(batch, self._answer([questions[same[0]] for same in batch])):
                if rec["error"] is None or rec["error"] == "unparseable":
                    self.cache.put(keys[same[0]], rec)  # committed now: a crash after this never pays for it again
                out[same[0]] = {**rec, "cached": False}
                for i in same[1:]:
                    out[i] = {**rec, "cached": True}
            if answered is not None:
                landed = [i for same in batch for i in same]
                answered(landed, [out[i] for i in landed])
        return out  # type: ignore[return-value]

    def _answer(self, questions: Sequence[tuple[str, object]]) -> list[dict]:
        """Ask the backend, re-asking (`parse_retries`, another seed, temperature ≥ 0.5) what does not parse."""
        n = len(questions)
        raw, value = [""] * n, [None] * n
        tokens = [{"prompt_tokens": 0, "completion_tokens": 0} for _ in range(n)]
        pending = list(range(n))
        for attempt in range(self.cfg.parse_retries + 1):
            try:
                comps = self.backend.complete_many(
                    [[{"role": "user", "content": questions[i][0]}] for i in pending],
                    max_tokens=self.max_tokens,
                    temperature=self.cfg.temperature if attempt == 0 else max(self.cfg.temperature, 0.5),
                    seed=self.cfg.seed + attempt,
                    logprobs=5 if (self.cfg.logprobs and self.mode == "pairwise") else 0,
                )
            except RequestFailed as e:  # after the transport's own retries: a failure, and not cached
                with self._lock:
                    self.usage_counts["transport_failures"] += n
                return [{"value": None, "raw": raw[i], "error": str(e)} for i in range(n)]
            for i, comp in zip(pending, comps):
                raw[i] = comp.text
                for name in tokens[i]:
                    tokens[i][name] += comp.usage.get(name, 0)
                value[i] = questions[i][1](comp)
            with self._lock:
                for comp in comps:
                    for name in ("prompt_tokens", "completion_tokens"):
                        self.usage_counts[name] += comp.usage.get(name, 0)
                if attempt:
                    self.usage_counts["parse_retries"] += len(pending)
            pending = [i for i in pending if value[i] is None]
            if not pending:
                break
        with self._lock:
            self.usage_counts["answered"] += n
            self.usage_counts["unparseable"] += sum(v is None for v in value)
        return [
            {"value": v, "raw": r, "error": None if v is not None else "unparseable", "usage": t}
            for v, r, t in zip(value, raw, tokens)
        ]

    # -- pointwise
    def _pointwise_question(self, prompt: dict, candidates: Sequence[str]) -> tuple[str, object]:
        def parse(comp):
            scores, reasons = parse_rubric(comp.text, len(candidates))
            return None if any(s is None for s in scores) else {"scores": scores, "reasons": reasons}

        return templates.render_pointwise(self.template, prompt, candidates), parse

    # -- pairwise
    def _pairwise_question(self, prompt: dict, a: str, b: str) -> tuple[str, object]:
        """The question showing `a` as A and `b` as B."""
        return templates.render_pairwise(self.template, prompt, a, b), parse_verdict

    def _one_order(self, prompt: dict, a: str, b: str) -> dict:
        return self._ask(*self._pairwise_question(prompt, a, b))

    def _orders(self, prompt: dict, a: str, b: str) -> list[tuple[str, str, bool]]:
        """The (shown A, shown B, swapped) requests that decide P(a ≻ b)."""
        if self.cfg.position == "both":
            return [(a, b, False), (b, a, True)]
        lo, hi = sorted((a, b))
        h = hashlib.sha256(json.dumps([prompt["messages"], lo, hi]).encode()).digest()[0]
        first = (lo, hi) if h % 2 == 0 else (hi, lo)  # the same physical order whichever way round we are asked
        return [(first[0], first[1], first[0] != a)]

    def _combine(self, answers: list[tuple[dict, bool]]) -> tuple[float, list]:
        ps, details = [], []
        for rec, swapped in answers:
            p = rec["value"]
            details.append(
                {
                    "p_shown_a": p,
                    "swapped": swapped,
                    "error": rec["error"],
                    **({"raw": rec["raw"]} if rec["error"] else {}),
                }
            )
            ps.append(math.nan if p is None else (1 - p if swapped else p))
        return combine_orders(ps, self.cfg.calibrate), details

    def compare_shown(self, prompt: dict, first: str, second: str) -> float:
        """P(first ≻ second) from one request showing `first` as A (pairwise mode); position bias included."""
        if self.mode != "pairwise":
            return super().compare(prompt, first, second)
        p = self._one_order(prompt, first, second)["value"]
        return math.nan if p is None else p

    def compare_shown_many(self, shown: Sequence[tuple[dict, str, str]], progress=None) -> list[float]:
        """`compare_shown` of many (prompt, first, second): in batches on a local model."""
        if self.mode != "pairwise":
            scores = self.score_many([p for p, _, _ in shown], [[a, b] for _, a, b in shown], progress)
            return [compare_from_scores(*s.scores) for s in scores]
        questions = [self._pairwise_question(p, a, b) for p, a, b in shown]
        tick = (lambda idx, recs: progress.update(len(idx))) if progress is not None else None
        return [math.nan if r["value"] is None else r["value"] for r in self._ask_many(questions, tick)]

    def compare(self, prompt: dict, a: str, b: str) -> float:
        """P(a ≻ b) in [0, 1]; NaN when the judge failed (never a fake 0.5)."""
        if self.mode != "pairwise":  # from the rubric scores of the two
            return super().compare(prompt, a, b)
        if a == b:
            return 0.5
        return self._combine([(self._one_order(prompt, x, y), s) for x, y, s in self._orders(prompt, a, b)])[0]

    # -- the Judge interface
    def _questions(self, prompt: dict, candidates: Sequence[str]) -> list[tuple[str, object, object]]:
        """The independent questions that score one prompt: [(text, parse, tag)]."""
        if self.mode == "pointwise":
            return [(*self._pointwise_question(prompt, candidates), None)]
        out = []
        for i, j in itertools.combinations(range(len(candidates)), 2):
            if candidates[i] == candidates[j]:
                continue
            for x, y, s in self._orders(prompt, candidates[i], candidates[j]):
                out.append((*self._pairwise_question(prompt, x, y), (i, j, s)))
        return out

    def _assemble(self, candidates: Sequence[str], results: list) -> Scores:
        n = len(candidates)
        if self.mode == "pointwise":
            rec = results[0][0]
            if rec["value"] is None:
                return Scores([math.nan] * n, {"error": rec["error"], "raw": rec["raw"], "cached": rec["cached"]})
            return Scores(list(rec["value"]["scores"]), {"reasons": rec["value"]["reasons"], "cached": rec["cached"]})
        p = [[math.nan] * n for _ in range(n)]
        for i in range(n):
            p[i][i] = 0.5
        for i, j in itertools.combinations(range(n), 2):
            if candidates[i] == candidates[j]:
                p[i][j] = p[j][i] = 0.5
        by_pair: dict[tuple[int, int], list] = {}
        for rec, (i, j, s) in results:
            by_pair.setdefault((i, j), []).append((rec, s))
        details = {}
        for (i, j), answers in by_pair.items():
            pij, det = self._combine(answers)
            p[i][j], p[j][i] = pij, (math.nan if math.isnan(pij) else 1 - pij)
            details[f"{i},{j}"] = det
        scores = scores_from_comparisons(p)
        failed = sum(1 for d in details.values() for x in d if x["error"])
        return Scores(
            scores,
            {
                "p": [[None if math.isnan(x) else round(x, 4) for x in row] for row in p],
                "failed_requests": failed,
                "comparisons": details,
            },
        )

    def score(self, prompt: dict, candidates: Sequence[str]) -> Scores:
        return self.score_many([prompt], [candidates])[0]

    def score_many(self, prompts: Sequence[dict], candidates: Sequence[Sequence[str]], progress=None) -> list[Scores]:
        """Every question of every prompt: in batches on a local model, else through one pool of `concurrency`
        workers. A prompt is assembled (and counted in `progress`) as soon as its last answer lands."""
        per_prompt = [self._questions(p, c) for p, c in zip(prompts, candidates)]
        results: list[list] = [[None] * len(qs) for qs in per_prompt]
        remaining = [len(qs) for qs in per_prompt]
        out: list[Scores | None] = [None] * len(prompts)
        lock = threading.Lock()

        def landed(pi: int, qi: int, rec: dict) -> None:
            results[pi][qi] = (rec, per_prompt[pi][qi][2])
            with lock:
                remaining[pi] -= 1
                done = remaining[pi] == 0
            if done:
                finish(pi)

        def finish(pi: int) -> None:
            out[pi] = self._assemble(candidates[pi], results[pi])
            if progress is not None:
                progress.update(1)

        for pi, qs in enumerate(per_prompt):
            if not qs:
                finish(pi)
        work = [(pi, qi) for pi, qs in enumerate(per_prompt) for qi in range(len(qs))]
        if self.batch > 1:
            self._ask_many(
                [per_prompt[pi][qi][:2] for pi, qi in work],
                answered=lambda idx, recs: [landed(*work[w], rec) for w, rec in zip(idx, recs)],
            )
            return out  # type: ignore[return-value]
        self.backend.abort.clear()
        run_jobs(
            [lambda pi=pi, qi=qi: landed(pi, qi, self._ask(*per_prompt[pi][qi][:2])) for pi, qi in work],
            self.concurrency,
            self.backend.abort,
            grace_s=INTERRUPT_GRACE_S,
            quiet=(Aborted,),
        )
        return out  # type: ignore[return-value]

    def usage(self) -> dict:
        u = dict(self.usage_counts)
        u.update({f"http_{k}" if k != "requests" else "requests_sent": v for k, v in self.backend.stats.items()})
        price_in, price_out = self.cfg.price_input_per_mtok, self.cfg.price_output_per_mtok
        u["cost_usd"] = (
            round((u["prompt_tokens"] * price_in + u["completion_tokens"] * price_out) / 1e6, 6)
            if (price_in or price_out)
            else None
        )
        u["judge"] = self.name
        u["seconds"] = round(time.perf_counter() - self.started, 2)
        return u


@JUDGES.register("llm")
class LocalLLMJudge(LLMJudge):
    """A causal LM in this process: `judge.model` is a built-in name (default smollm2-135m-instruct) or a directory."""

    backend_class = LocalBackend

    @classmethod
    def preflight(cls, cfg, field_prefix: str, prompts, source: str = "") -> None:
        from dno import models

        models.check(cfg.model or models.SMOLLM2, f"{field_prefix}.model")


@JUDGES.register("api")
class APIJudge(LLMJudge):
    """Any OpenAI-compatible server: `judge.base_url`, `judge.model`, `judge.api_key_env`."""

    backend_class = APIBackend

    @classmethod
    def check_config(cls, cfg, field_prefix: str) -> None:
        super().check_config(cfg, field_prefix)
        if not (cfg.base_url and cfg.model):
            raise DnoError(
                f"`{field_prefix}.base_url` and `{field_prefix}.model` are required when {field_prefix}.type is api"
            )

    @classmethod
    def preflight(cls, cfg, field_prefix: str, prompts, source: str = "") -> None:
        check_api(field_prefix, cfg.base_url, cfg.api_key_env, cfg.timeout_s)
