"""Completion backends for LLM judges: an OpenAI-compatible API, or a local causal LM.

Both answer `complete(messages, ...) -> Completion`: the reply text, per-token top log-probabilities
when the backend gives them, and token usage. The API backend owns the network engineering: a
per-request timeout, retries with exponential backoff and jitter on timeouts, 429, 5xx and dropped
connections, and errors that name the config field at fault. The API key is read from the environment
and never written anywhere; any error text that could carry it is scrubbed.
"""

from __future__ import annotations

import math
import os
import random
import socket
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from dno.errors import DnoError


@dataclass
class Completion:
    text: str
    tokens: list[tuple[str, dict[str, float]]] | None = None
    """Per generated token: (the token, {candidate token: log-probability} of its top alternatives)."""
    usage: dict = field(default_factory=dict)
    """prompt_tokens, completion_tokens."""
    attempts: int = 1
    """HTTP attempts this completion took (1 = no retry)."""


class RequestFailed(Exception):
    """A request that still failed after every retry (timeouts, 429, 5xx): the item is recorded as a failure."""


class Aborted(Exception):
    """The judge is shutting down (another request hit a fatal error, or the user interrupted)."""


class APIBackend:
    """Chat completions from any OpenAI-compatible server through the official `openai` client."""

    def __init__(self, cfg, field_prefix: str = "judge"):
        import openai

        self.cfg, self.prefix = cfg, field_prefix
        if not cfg.base_url:
            raise DnoError(
                f"config: `{field_prefix}.base_url` is required for an api judge "
                "(e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1)"
            )
        if not cfg.model:
            raise DnoError(f"config: `{field_prefix}.model` is required for an api judge")
        if cfg.api_key_env:
            key = os.environ.get(cfg.api_key_env)
            if not key:
                raise DnoError(
                    f"config: `{field_prefix}.api_key_env`: environment variable {cfg.api_key_env} "
                    "is not set (export it; the key itself never goes in a config file)"
                )
        else:
            key = "EMPTY"  # servers without authentication (a local vLLM or llama.cpp) accept any key
        self._key = key
        self.client = openai.OpenAI(base_url=cfg.base_url, api_key=key, max_retries=0, timeout=cfg.timeout_s)
        self.abort = threading.Event()
        self._rng = random.Random()
        self._stats_lock = threading.Lock()
        self.stats = {
            "requests": 0,
            "retries": 0,
            "timeouts": 0,
            "rate_limited": 0,
            "server_errors": 0,
            "connection_errors": 0,
        }

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] += 1

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key and self._key != "EMPTY" else text

    def _sleep(self, attempt: int, retry_after: float | None) -> None:
        delay = self.cfg.backoff_s * 2**attempt
        delay = delay * (0.5 + self._rng.random())  # jitter: concurrent clients do not retry in lockstep
        if retry_after is not None:
            delay = max(delay, min(retry_after, 60.0))
        if self.abort.wait(delay):
            raise Aborted()

    def complete(
        self, messages: list[dict], *, max_tokens: int, temperature: float, seed: int, logprobs: int
    ) -> Completion:
        import openai

        kwargs = dict(
            model=self.cfg.model, messages=messages, max_tokens=max_tokens, temperature=temperature, seed=seed
        )
        if logprobs:
            kwargs.update(logprobs=True, top_logprobs=logprobs)
        last = ""
        for attempt in range(self.cfg.max_retries + 1):
            if self.abort.is_set():
                raise Aborted()
            self._count("requests")
            if attempt:
                self._count("retries")
            retry_after = None
            try:
                resp = self.client.chat.completions.create(**kwargs)
            except openai.APITimeoutError:
                self._count("timeouts")
                last = f"no answer within judge timeout_s={self.cfg.timeout_s}"
                if attempt == self.cfg.max_retries:
                    raise RequestFailed(f"timeout: {last} after {attempt + 1} attempts") from None
            except openai.APIConnectionError as e:
                self._count("connection_errors")
                last = self._scrub(f"{type(e.__cause__ or e).__name__}: {e.__cause__ or e}")
                if attempt == self.cfg.max_retries:
                    raise DnoError(
                        f"`{self.prefix}.base_url` {self.cfg.base_url}: cannot reach the judge server "
                        f"after {attempt + 1} attempts ({last}); answers so far are cached, "
                        "run again to resume"
                    ) from None
            except openai.APIStatusError as e:
                code = e.status_code
                last = self._scrub(f"HTTP {code}: {str(e)[:300]}")
                if code == 429 or code >= 500:
                    self._count("rate_limited" if code == 429 else "server_errors")
                    ra = e.response.headers.get("retry-after") if e.response is not None else None
                    try:
                        retry_after = float(ra) if ra is not None else None
                    except ValueError:
                        retry_after = None
                    if attempt == self.cfg.max_retries:
                        raise RequestFailed(f"{last} after {attempt + 1} attempts") from None
                elif code in (401, 403):
                    raise DnoError(
                        f"`{self.prefix}.api_key_env`: the server at {self.cfg.base_url} rejected the key "
                        f"in ${self.cfg.api_key_env} ({last})"
                    ) from None
                elif code == 404:
                    raise DnoError(
                        f"`{self.prefix}.model` {self.cfg.model!r} or `{self.prefix}.base_url` "
                        f"{self.cfg.base_url}: not found ({last})"
                    ) from None
                else:
                    raise DnoError(f"`{self.prefix}`: the server refused the request ({last})") from None
            else:
                try:
                    return self._completion(resp, attempt + 1)
                except (AttributeError, IndexError, TypeError):
                    raise DnoError(
                        f"`{self.prefix}.base_url` {self.cfg.base_url}: the server's answer is not a chat completion "
                        f"({self._scrub(str(resp))[:120]!r}); is this an OpenAI-compatible /v1 endpoint?"
                    ) from None
            self._sleep(attempt, retry_after)
        raise AssertionError("unreachable")

    def complete_many(self, conversations: list[list[dict]], **kwargs) -> list[Completion]:
        """One request each (concurrency comes from the judge's pool of threads)."""
        return [self.complete(m, **kwargs) for m in conversations]

    @staticmethod
    def _completion(resp, attempts: int) -> Completion:
        choice = resp.choices[0]
        tokens = None
        lp = getattr(choice, "logprobs", None)
        if lp is not None and getattr(lp, "content", None):
            tokens = [
                (t.token, {a.token: a.logprob for a in (t.top_logprobs or [])} or {t.token: t.logprob})
                for t in lp.content
            ]
        usage = {}
        if resp.usage is not None:
            usage = {
                "prompt_tokens": resp.usage.prompt_tokens or 0,
                "completion_tokens": resp.usage.completion_tokens or 0,
            }
        return Completion(choice.message.content or "", tokens, usage, attempts)


class LocalBackend:
    """A causal LM in this process (transformers): a built-in name such as `smollm2-135m-instruct`, or a model
    directory, on `judge.device` in `judge.dtype` (auto: bfloat16 on cuda, float32 elsewhere). Requests are
    answered `judge.batch_size` at a time: left-padded, one `decode` per batch (dno/generation/decode.py)."""

    def __init__(self, cfg, field_prefix: str = "judge"):
        from dno import models

        name = cfg.model or models.SMOLLM2
        device, self.dtype = judge_placement(cfg)
        self.model, self.tok = models.load_policy(models.resolve(name), self.dtype, device=device)
        self.model.eval()
        self.tok.padding_side = "left"  # each row's last position is its prompt's end, where the reply starts
        self.batch_size = cfg.batch_size
        self._lock = threading.Lock()
        self.abort = threading.Event()
        self.stats = {"requests": 0}
        self.eos = models.stop_token_ids(self.tok, self.model.generation_config.eos_token_id)

    def complete(
        self, messages: list[dict], *, max_tokens: int, temperature: float, seed: int, logprobs: int
    ) -> Completion:
        return self.complete_many(
            [messages], max_tokens=max_tokens, temperature=temperature, seed=seed, logprobs=logprobs
        )[0]

    def complete_many(
        self, conversations: list[list[dict]], *, max_tokens: int, temperature: float, seed: int, logprobs: int
    ) -> list[Completion]:
        """One completion per conversation, generated together (the caller sizes the batch)."""
        import torch

        from dno.generation.decode import decode
        from dno.generation.hf import shared_prompt_inputs
        from dno.models import render_prompt

        with self._lock, torch.no_grad():
            if self.abort.is_set():
                raise Aborted()
            self.stats["requests"] += len(conversations)
            enc = self.tok(
                [render_prompt(self.tok, m) for m in conversations],
                return_tensors="pt",
                add_special_tokens=False,
                padding=True,
            ).to(self.model.device)
            steps: list[list] = [[] for _ in conversations]  # each row's next-token log-probabilities, if asked

            def keep(rows, logits):  # of the distribution drawn from: tempered, as `generate`'s scores were
                for r, lps in zip(rows, (logits.float() / (temperature or 1.0)).log_softmax(-1)):
                    steps[r].append(lps)

            torch.manual_seed(seed)
            new = decode(  # the judge's instructions, the same for every question, run once
                self.model,
                shared_prompt_inputs(self.model, enc, 1, self.tok.pad_token_id),
                max_new_tokens=max_tokens,
                eos=set(self.eos),
                temperature=temperature,
                top_p=1.0,
                on_step=keep if logprobs else None,
            )
            lengths = enc["attention_mask"].sum(dim=1).tolist()
            return [self._completion(ids, lps, int(n), logprobs) for ids, lps, n in zip(new, steps, lengths)]

    def _completion(self, new: list[int], steps: list, prompt_tokens: int, logprobs: int) -> Completion:
        import torch

        end = next((i for i, t in enumerate(new) if t in self.eos), len(new))
        tokens = []
        for i in range(end if logprobs else 0):
            top = torch.topk(steps[i], logprobs)
            alts = {self.tok.decode([int(t)]): float(v) for v, t in zip(top.values, top.indices)}
            alts.setdefault(self.tok.decode([new[i]]), float(steps[i][new[i]]))
            tokens.append((self.tok.decode([new[i]]), alts))
        return Completion(
            self.tok.decode(new[:end], skip_special_tokens=True),
            tokens if logprobs else None,
            {"prompt_tokens": prompt_tokens, "completion_tokens": min(end + 1, len(new))},
        )


def judge_placement(cfg) -> tuple[str, str]:
    """(device, dtype) of a judge model in this process: `judge.device` and `judge.dtype`, where `auto` means
    cuda if available, and bfloat16 on cuda, float32 elsewhere (a judge's verdicts are worth full precision
    where it costs little)."""
    from dno import models

    device = models.default_device() if cfg.device == "auto" else cfg.device
    dtype = cfg.dtype if cfg.dtype != "auto" else "bfloat16" if device.startswith("cuda") else "float32"
    return device, dtype


def logprob_mass(alts: dict[str, float], letter: str) -> float:
    """Total probability of the tokens that spell `letter` (' A', 'A', '[A' ...) among the alternatives."""
    return sum(math.exp(lp) for tok, lp in alts.items() if tok.strip(" *[]()'\"\t\n:") == letter)


def check_api(prefix: str, base_url: str, key_env: str, timeout_s: float) -> None:
    """An API judge or teacher: its key variable is set and its server accepts a TCP connection."""
    if key_env and not os.environ.get(key_env):
        raise DnoError(
            f"config: `{prefix}.api_key_env`: environment variable {key_env} is not set "
            "(export it; the key itself never goes in a config file)"
        )
    url = urlsplit(base_url)
    try:
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:
        port = None
    if url.scheme not in ("http", "https") or not url.hostname or port is None:
        raise DnoError(f"config: `{prefix}.base_url` {base_url!r} is not an http(s) URL")
    try:
        socket.create_connection((url.hostname, port), timeout=min(timeout_s, 10.0)).close()
    except OSError as e:
        raise DnoError(
            f"config: `{prefix}.base_url` {base_url}: cannot reach the server ({e.strerror or type(e).__name__})"
        ) from None
