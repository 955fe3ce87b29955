"""An API judge pointed at a server that answers, but not with a chat completion, says so in one line."""

from __future__ import annotations

import pytest
from http_servers import serve

from dno.config import load_config
from dno.errors import DnoError
from dno.judges import build_judge

PROMPT = {"id": "p", "messages": [{"role": "user", "content": "What is 2 + 3?"}], "task": "arithmetic", "answer": 5}


@pytest.mark.parametrize("body", [b'{"hello": "world"}', b'{"choices": []}', b"<html>a login page</html>"])
def test_an_answer_that_is_not_a_chat_completion_is_named(body):
    kind = "application/json" if body.startswith(b"{") else "text/html"
    with serve(lambda request: (200, kind, body)) as (url, _):
        cfg = load_config(None, ["judge.type=api", f"judge.base_url={url}", "judge.model=m", "judge.api_key_env="])
        with pytest.raises(DnoError, match="not a chat completion") as e:
            build_judge(cfg.judge).score(PROMPT, ["5", "7"])
    assert "judge.base_url" in str(e.value) and "\n" not in str(e.value)
