"""Judge prompt templates: text files with `{placeholder}` fields (literal braces doubled: `{{`, `}}`).

A template is a shipped name (`rubric`, `pairwise`: the files in `prompts/`, installed as `dno/prompts/`)
or a path to the user's own file. Its placeholders are checked when the config loads, so a typo fails
before any judging is paid for.
"""

from __future__ import annotations

import string
from pathlib import Path

from dno.errors import DnoError

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"

# The placeholders each mode fills in. A template may leave some out, but may use no others.
PLACEHOLDERS = {
    "pointwise": {"instruction", "candidates", "n"},
    "pairwise": {"instruction", "response_a", "response_b"},
}
REQUIRED = {
    "pointwise": {"instruction", "candidates"},
    "pairwise": {"response_a", "response_b"},
}
DEFAULT = {"pointwise": "rubric", "pairwise": "pairwise"}


def resolve(name: str, mode: str) -> Path:
    name = name or DEFAULT[mode]
    path = Path(name).expanduser()
    if path.suffix == ".txt" or path.exists():
        return path
    return PROMPTS_DIR / f"{name}.txt"


def load(name: str, mode: str, field: str = "judge.template") -> str:
    """The template text, with its placeholders checked against `mode`; DnoError names the field and file."""
    path = resolve(name, mode)
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in PROMPTS_DIR.glob("*.txt")))
        raise DnoError(f"{field}: template {path} not found (shipped templates: {shipped}; or give a .txt path)")
    text = path.read_text(encoding="utf-8")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as e:
        raise DnoError(f"{path}: malformed template ({e}); write literal braces as {{{{ and }}}}") from None
    unknown = sorted(fields - PLACEHOLDERS[mode])
    if unknown:
        raise DnoError(
            f"{path}: unknown placeholder {{{unknown[0]}}} for {field} in {mode} mode "
            f"(known: {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS[mode]))})"
        )
    missing = sorted(REQUIRED[mode] - fields)
    if missing:
        raise DnoError(f"{path}: {field} in {mode} mode must use {{{missing[0]}}}")
    return text


def instruction(prompt: dict) -> str:
    """The conversation a prompt record asks about, as text (the last user turn, with earlier turns above it)."""
    msgs = prompt["messages"]
    if len(msgs) == 1:
        return msgs[0]["content"]
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in msgs)


def render_pointwise(text: str, prompt: dict, candidates) -> str:
    blocks = "\n\n".join(f"<response {i}>\n{c}\n</response {i}>" for i, c in enumerate(candidates, 1))
    return text.format(instruction=instruction(prompt), candidates=blocks, n=len(candidates))


def render_pairwise(text: str, prompt: dict, a: str, b: str) -> str:
    return text.format(instruction=instruction(prompt), response_a=a, response_b=b)
