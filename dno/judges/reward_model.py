"""A reward model as the judge: any Hugging Face `AutoModelForSequenceClassification` with one scalar head.

Each candidate is rendered with the reward model's OWN tokenizer and chat template (the prompt's messages,
then the candidate as the assistant turn), cut at the end to `max_length` tokens and scored in batches of
`batch_size` texts. A tokenizer without a chat template gets plain text, one line per message with its role
capitalised ("User: ...\\nAssistant: ..."), and a warning says so. Cut inputs are counted (`truncated` in each
judgment's info and in judge_usage.json) and the first one is warned about.

The raw rewards stay in each judgment's info (`raw`); the scores the pipeline pairs on put one prompt's
rewards on the 0-6 scale (`reward_scale`, `to_scale`). Rewards go through the judge cache (cache.py), keyed by
the model directory and its weight files, dtype, max_length and the rendered text: a resumed stage scores
nothing twice, and the same text always gets the same reward whatever batch it came in.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from dno import faults
from dno.errors import DnoError
from dno.judges.backends import judge_placement
from dno.judges.base import JUDGES, Judge, Scores, compare_from_scores, scores_from_comparisons
from dno.judges.cache import JudgeCache, key


def to_scale(raw: Sequence[float], how: str) -> list[float]:
    """One prompt's raw rewards on the judge's 0-6 scale (NaN stays NaN, a lone candidate gets 3):
    rank         6 x mean_j [r_i > r_j] (ties ½): DNO's r_t from the rewards' order alone;
    sigmoid      6 x mean_j σ(r_i - r_j): r_t with the Bradley-Terry probabilities reward models are trained on;
    standardize  3 + (r - mean) / sd (population sd over the prompt's candidates), clipped to [0, 6]; sd 0: 3;
    raw          the rewards themselves."""
    if how == "raw":
        return list(raw)
    if how in ("rank", "sigmoid"):

        def p(a: float, b: float) -> float:
            if how == "rank" or math.isnan(a) or math.isnan(b):
                return compare_from_scores(a, b)
            return 0.5 * (1 + math.tanh((a - b) / 2))  # σ(a - b), without overflow

        return scores_from_comparisons([[p(a, b) for b in raw] for a in raw])
    ok = [r for r in raw if not math.isnan(r)]
    mean = sum(ok) / len(ok) if ok else 0.0
    sd = math.sqrt(sum((r - mean) ** 2 for r in ok) / len(ok)) if ok else 0.0
    return [r if math.isnan(r) else 3.0 if sd == 0 else min(6.0, max(0.0, 3 + (r - mean) / sd)) for r in raw]


def check_model_dir(name: str, field: str) -> Path:
    """The reward model's directory, checked from its config and file names alone (no weights are read)."""
    from transformers import AutoConfig

    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise DnoError(
            f"config: `{field}`: {name!r} is not a model directory with a config.json (hub downloads are not used)"
        )
    try:
        config = AutoConfig.from_pretrained(str(path))
    except (OSError, ValueError) as e:
        raise DnoError(f"config: `{field}`: {path / 'config.json'}: {str(e).splitlines()[0]}") from None
    archs = config.architectures or []
    if not any(a.endswith("ForSequenceClassification") for a in archs):
        raise DnoError(
            f"config: `{field}`: {path} is not a sequence-classification model (architectures: "
            f"{', '.join(archs) or 'none'}); a reward model is an AutoModelForSequenceClassification"
        )
    if config.num_labels != 1:
        raise DnoError(
            f"config: `{field}`: {path} has num_labels={config.num_labels}; a reward model has one scalar head"
        )
    if not (path / "tokenizer_config.json").is_file():
        raise DnoError(
            f"config: `{field}`: {path} has no tokenizer (tokenizer_config.json); a reward model needs its own"
        )
    return path


def render(tok, messages: Sequence[dict], response: str, field: str = "judge.model") -> str:
    """The text the reward model reads: its own chat template, else "Role: content" lines. A template that
    refuses a system turn (Gemma's, older Mistral ones) gets the system text at the head of the first user
    turn, as those models' newer templates do themselves; any other refusal is a one-line error."""
    from jinja2 import TemplateError

    turns = [*messages, {"role": "assistant", "content": response}]
    if not tok.chat_template:
        return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in turns)
    try:
        return tok.apply_chat_template(turns, tokenize=False)
    except TemplateError as e:
        error = e
    if len(turns) > 2 and turns[0]["role"] == "system" and turns[1]["role"] == "user":
        folded = {"role": "user", "content": f"{turns[0]['content']}\n\n{turns[1]['content']}"}
        try:
            return tok.apply_chat_template([folded, *turns[2:]], tokenize=False)
        except TemplateError:
            pass
    roles = "/".join(m["role"] for m in turns)
    raise DnoError(f"`{field}`: its chat template cannot render a {roles} conversation: {error}") from None


@JUDGES.register("reward_model")
class RewardModelJudge(Judge):
    """`judge.model`: the directory; `reward_scale`, `batch_size`, `max_length`, `device`, `dtype` (docs/judges.md)."""

    def __init__(self, cfg, cache: JudgeCache, field_prefix: str = "judge"):
        import torch
        from transformers import AutoModelForSequenceClassification

        from dno import models

        self.field = f"{field_prefix}.model"
        path = check_model_dir(cfg.model, self.field)
        self.device, dtype = judge_placement(cfg)
        try:
            model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=models.DTYPES[dtype])
            self.model = model.to(self.device).eval()
        except (OSError, ValueError, RuntimeError) as e:
            raise DnoError(f"config: `{self.field}`: cannot load {path} ({str(e).splitlines()[0]})") from None
        self.tok = models.load_tokenizer(path)
        if self.model.config.pad_token_id is None:  # batches pad with it; the head reads the last other token
            self.model.config.pad_token_id = self.tok.pad_token_id
        self.pad_id = self.model.config.pad_token_id
        self.torch, self.cache, self.cfg = torch, cache, cfg
        self.name = f"reward_model:{path.resolve().name}"
        self.settings = {
            "type": "reward_model",
            "model": str(path.resolve()),
            "weights": sorted(
                (f.name, f.stat().st_size, f.stat().st_mtime_ns)
                for f in path.iterdir()
                if f.suffix in (".safetensors", ".bin", ".pt")
            ),
            "dtype": dtype,
            "max_length": cfg.max_length,
        }
        self.counts = {"texts": 0, "scored": 0, "cache_hits": 0, "truncated": 0}
        self.warned, self.started = False, time.perf_counter()
        if not self.tok.chat_template:
            print(
                f"dno: warning: `{self.field}`: {path} has no chat template; the reward model reads plain "
                '"User: ...\\nAssistant: ..." text',
                file=sys.stderr,
            )

    @classmethod
    def from_config(cls, cfg, *, cache_dir=None, field_prefix: str = "judge") -> RewardModelJudge:
        return cls(cfg, JudgeCache(cache_dir / "answers.sqlite" if cache_dir is not None else None), field_prefix)

    @classmethod
    def check_config(cls, cfg, field_prefix: str) -> None:
        if not cfg.model:
            raise DnoError(
                f"`{field_prefix}.model` (the reward model's directory) is required when {field_prefix}.type is reward_model"
            )

    @classmethod
    def preflight(cls, cfg, field_prefix: str, prompts, source: str = "") -> None:
        """The model directory, and every prompt rendered once with its template (milliseconds each), so that
        a conversation the template refuses stops the run here, not in the judge stage."""
        from dno import models

        field = f"{field_prefix}.model"
        tok = models.load_tokenizer(check_model_dir(cfg.model, field))
        for p in prompts:
            try:
                render(tok, p["messages"], "ok", field)
            except DnoError as e:
                raise DnoError(f"{source or 'prompts'}: prompt {p['id']}: {e}") from None

    def rewards(self, texts: Sequence[str]) -> list[dict]:
        """{"reward", "truncated"} per text: from the cache, or scored in length-sorted batches and cached."""
        keys = [key(self.settings, "", t) for t in texts]
        found = {k: self.cache.get(k) for k in set(keys)}
        self.counts["cache_hits"] += sum(v is not None for v in found.values())
        todo = []
        for k, t in dict(zip(keys, texts)).items():
            if found[k] is None:
                ids = self.tok(t, add_special_tokens=not self.tok.chat_template)["input_ids"]
                todo.append((k, ids[: self.cfg.max_length], len(ids) > self.cfg.max_length))
        todo.sort(key=lambda x: -len(x[1]))  # similar lengths together: little padding
        for lo in range(0, len(todo), self.cfg.batch_size):
            batch = todo[lo : lo + self.cfg.batch_size]
            ids = self.torch.full((len(batch), len(batch[0][1])), self.pad_id, dtype=self.torch.long)
            mask = self.torch.zeros_like(ids)
            for row, (_, x, _) in enumerate(batch):  # right padding: the real tokens keep their positions
                ids[row, : len(x)], mask[row, : len(x)] = self.torch.tensor(x), 1
            with self.torch.no_grad():
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
            for (k, _, cut), r in zip(batch, logits[:, 0].float().tolist()):
                found[k] = {"reward": r if math.isfinite(r) else math.nan, "truncated": cut}
                self.cache.put(k, found[k])
            self.counts["scored"] += len(batch)
        return [found[k] for k in keys]

    def score(self, prompt: dict, candidates: Sequence[str]) -> Scores:
        return self.score_many([prompt], [candidates])[0]

    def score_many(self, prompts: Sequence[dict], candidates: Sequence[Sequence[str]], progress=None) -> list[Scores]:
        """Prompts in groups of about 4 batches' worth of candidates, each group's texts scored together."""
        out: list[Scores] = []
        step = max(1, 4 * self.cfg.batch_size // max([len(c) for c in candidates] + [1]))
        for lo in range(0, len(prompts), step):
            texts = [
                [render(self.tok, p["messages"], c, self.field) for c in cs]
                for p, cs in zip(prompts[lo : lo + step], candidates[lo : lo + step])
            ]
            got = iter(self.rewards([t for ts in texts for t in ts]))
            for ts in texts:
                results = [next(got) for _ in ts]
                raw = [r["reward"] for r in results]
                cut = sum(r["truncated"] for r in results)
                out.append(Scores(to_scale(raw, self.cfg.reward_scale), {"raw": raw, "truncated": cut}))
                self._count(len(ts), cut)
                faults.point("judged")
                if progress is not None:
                    progress.update(1)
        return out

    def _count(self, texts: int, cut: int) -> None:
        self.counts["texts"] += texts
        self.counts["truncated"] += cut
        if cut and not self.warned:
            self.warned = True
            print(
                f"dno: warning: `{self.field.rsplit('.', 1)[0]}.max_length`={self.cfg.max_length}: longer inputs are cut "
                "at the end (counted as `truncated` in judgments.jsonl and judge_usage.json)",
                file=sys.stderr,
            )

    def usage(self) -> dict:
        return {**self.counts, "judge": self.name, "seconds": round(time.perf_counter() - self.started, 2)}
