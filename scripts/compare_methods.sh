#!/usr/bin/env bash
# The methods comparison (docs/methods.md): every method on the embedded default's task with the same sampling and judging
# budget (3 x 96 prompts x 6 samples, oracle judge), the same test prompts, then one side-by-side report.
# Usage: scripts/compare_methods.sh [extra key=value overrides for every run]   (idle 2-core CPU: about 24 min per method)
# Each run's results go to docs/results/<method>.json; `scripts/doc_tables.py render` then rewrites docs/methods.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DNO=${DNO:-.venv/bin/dno}
out=runs/compare
for method in default dno_soft dno_prct iterative_dpo sft_best offline_dpo sppo; do
  "$DNO" run "configs/$method.yaml" "$@" --run-dir "$out/$method"
  .venv/bin/python scripts/doc_tables.py collect "$out/$method" "$method"  # docs/results/, for the docs' tables
done
"$DNO" report "$out"/default "$out"/dno_soft "$out"/dno_prct "$out"/iterative_dpo "$out"/sft_best "$out"/offline_dpo "$out"/sppo --out "$out"
echo "side-by-side report: $out/report.md; tables: .venv/bin/python scripts/doc_tables.py render"
