"""A persistent answer cache for judges: a question already answered is never asked (or paid for) again.

The key is a SHA-256 of exactly what determines the answer: the judge settings that reach the model
(type, model, mode, temperature, max tokens, seed, logprobs), the template text, and the rendered
request (prompt and candidates, in order). Transport settings (base_url, concurrency, timeouts, the
API key) are not part of it. Each answer is committed to SQLite as soon as it arrives, so a run killed
mid-stage loses nothing it has paid for.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

SCHEMA = 1


def key(settings: dict, template: str, request: object) -> str:
    blob = json.dumps(
        {"schema": SCHEMA, "settings": settings, "template": template, "request": request},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class JudgeCache:
    """Thread-safe key → JSON store; `path=None` keeps it in memory (nothing persists)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(self.path) if self.path else ":memory:", check_same_thread=False, isolation_level=None, timeout=30
        )
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def get(self, k: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM answers WHERE key = ?", (k,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, k: str, value: dict) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, value) VALUES (?, ?)", (k, json.dumps(value, ensure_ascii=False))
            )

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
