#!/usr/bin/env bash
# A whole DNO run on one GPU node: vLLM sampling sharded over the GPUs, accelerate training on all of
# them, every stage in its own process (scripts/iteration.sh), then the summary and report.
#
#   scripts/run_node.sh CONFIG RUN_DIR [key=value ...]
#   scripts/run_node.sh configs/default.yaml runs/node policy.model=/models/my-sft-checkpoint
#
# The run uses sample.backend=vllm and policy.dtype=bfloat16 unless the key=value arguments say otherwise.
# Re-running the same command resumes: finished stages and shards are skipped.
# Environment: as scripts/iteration.sh (NUM_GPUS, TP, ACCELERATE_CONFIG, JUDGE_SHARDS, DNO, DRY_RUN, ...).
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 CONFIG RUN_DIR [key=value ...]" >&2
  exit 2
fi
CONFIG=$1
RUN=$2
shift 2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DNO=${DNO:-dno}
PYTHON=${PYTHON:-python}

"$DNO" prepare "$CONFIG" sample.backend=vllm policy.dtype=bfloat16 "$@" --run-dir "$RUN"
CUDA_VISIBLE_DEVICES=0 "$DNO" baseline "$RUN"
ITERS=$("$PYTHON" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["iterations"])' "$RUN/config.yaml")
for ((t = 1; t <= ITERS; t++)); do
  bash "$HERE/iteration.sh" "$RUN" "$t"
done
# Every stage is done: this only writes best.json, summary.md and report.md.
CUDA_VISIBLE_DEVICES=0 "$DNO" run "$RUN/config.yaml" --run-dir "$RUN"
