"""The run directory is the state of a run: every stage reads files and writes files.

    runs/<name>/
      config.yaml               the fully merged config; a resume with different settings is refused
      test_prompts.jsonl        held-out prompts for win rate (val_prompts.jsonl when configured)
      baseline/                 the iteration-0 policy's greedy responses on them, judged
      iter_<t>/
        prompts.jsonl           this iteration's disjoint training slice
        samples.jsonl           K responses per prompt from π_{t-1}
        judgments.jsonl         one score per candidate
        pairs.jsonl             chosen, rejected, scores, margin, pair type
        train_log.jsonl         loss, reward margin and accuracy per step
        policy/                 π_t, written by save_pretrained (loads in transformers and vLLM)
        eval/                   π_t's greedy responses on test prompts, judgments, metrics.json/.md
        timings.json            seconds per stage
      summary.md                the per-iteration table

A stage is complete when its output exists; outputs are written atomically, so resuming is
"skip every stage whose output is there".
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from dno import config as config_mod
from dno import io, models
from dno.config import Config
from dno.data import make_splits
from dno.errors import DnoError
from dno.run.artifacts import check_files

GROWABLE = {"iterations"}
"""Besides the launch settings (dno.config.launch_keys): raising `iterations` continues a finished run, and
`train.*` settings (batch size, accumulation, learning rate, ...) may change until an iteration has trained."""


def check_target(root: Path) -> None:
    """A run directory is new, empty, or made by dno (it has config.yaml): dno never writes into, and so never
    cleans up in, a folder of the user's own."""
    from dno.run.lock import LOCK_NAME

    root = Path(root)
    if root.is_dir() and not (root / "config.yaml").is_file():
        # dno's own lock files and temporaries may be there: another dno process is creating this run
        if any(p.name not in (LOCK_NAME, ".locks") and not p.name.endswith(io.TMP_SUFFIX) for p in root.iterdir()):
            raise DnoError(
                f"{root}: not empty and not a dno run directory (no config.yaml); give --run-dir a new or empty folder"
            )


def check_prompt_slices(run: RunDir) -> None:
    """The prompt slices a run has written are still what its prompt source gives: a source edited since
    (prompts appended, changed or reordered) would re-split the prompts under the same ids, and baseline
    answers and win rates would then belong to other questions."""
    written = {split: path for split, path in run.prompt_files().items() if path.is_file()}
    if not written:
        return
    splits = make_splits(run.cfg.data, run.cfg.iterations)
    for split, path in written.items():
        old, new = io.read_jsonl(path), [json.loads(json.dumps(r)) for r in splits[split]]
        for line, (a, b) in enumerate(zip(old, new), 1):
            if a != b:
                raise DnoError(
                    f"{path}:{line}: data.source {run.cfg.data.source} now gives another prompt here (id "
                    f"{a.get('id')!r}): the prompt source changed since this run began; restore it or use a new --run-dir"
                )
        if len(old) != len(new):
            raise DnoError(f"{path}: holds {len(old)} prompts where data.source now gives {len(new)}")


class RunDir:
    def __init__(self, root: Path, cfg: Config):
        self.root, self.cfg = Path(root), cfg

    @classmethod
    def open(cls, root: str | Path, cfg: Config) -> RunDir:
        root = Path(root)
        saved = root / "config.yaml"
        if saved.is_file():
            try:
                old = yaml.safe_load(saved.read_text()) or {}
            except yaml.YAMLError:
                raise DnoError(f"{saved}: corrupt config; this run directory cannot be resumed") from None
            # A setting added to dno after the run began counts as its default there (or as what dno did
            # before it existed, where that differs: config.BEFORE_ADDED).
            old = {
                **config_mod.flatten(config_mod.to_dict(Config())),
                **config_mod.flatten(config_mod.fill_before_added(Config, old)),
            }
            new = config_mod.flatten(config_mod.to_dict(cfg))
            safe = config_mod.launch_keys() | GROWABLE
            trained = any(root.glob("iter_*/policy/config.json"))
            changed = [
                k
                for k in sorted(set(old) | set(new))
                if old.get(k) != new.get(k) and k not in safe and (trained or not k.startswith("train."))
            ]
            if changed:
                raise DnoError(
                    f"{root}: this run directory was made with a different config (differs in: "
                    f"{', '.join(changed)}); use another --run-dir or the same settings"
                )
            check_files(root)
            check_prompt_slices(cls(root, cfg))
        try:
            root.mkdir(parents=True, exist_ok=True)
            io.write_text(saved, config_mod.dump(cfg))
        except OSError as e:
            raise DnoError(f"{root}: cannot write the run directory ({e.strerror})") from None
        return cls(root, cfg)

    def prompt_files(self) -> dict[str, Path]:
        """Each prompt slice of the config (`test`, `val`, `train<t>`) and the file that holds it."""
        files = {"test": self.root / "test_prompts.jsonl"}
        if self.cfg.data.val_prompts:
            files["val"] = self.root / "val_prompts.jsonl"
        if self.has_ood:
            files["ood"] = self.root / "ood_prompts.jsonl"
        for t in range(1, self.cfg.iterations + 1):
            files[f"train{t}"] = self.iter_dir(t) / "prompts.jsonl"
        return files

    @property
    def has_ood(self) -> bool:
        """Out-of-distribution prompts exist for the built-in tasks only (data.ood_prompts)."""
        return self.cfg.data.source == "synthetic" and self.cfg.data.ood_prompts > 0

    def iter_dir(self, t: int) -> Path:
        return self.root / f"iter_{t}"

    def policy(self, t: int) -> Path:
        """π_t: the starting model for t = 0, else the checkpoint iteration t trained."""
        return models.resolve(self.cfg.policy.model) if t == 0 else self.iter_dir(t) / "policy"

    @property
    def baseline_dir(self) -> Path:
        return self.root / "baseline"

    def timings(self, t: int) -> dict:
        path = self.iter_dir(t) / "timings.json"
        return io.read_json(path) if path.is_file() else {}

    def record_time(self, t: int, stage: str, seconds: float) -> None:
        times = self.timings(t)
        times[stage] = round(seconds, 2)
        io.write_json(self.iter_dir(t) / "timings.json", times)
