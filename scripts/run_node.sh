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

# The GPUs training will use, as scripts/iteration.sh counts them; the batch is checked against them now.
if [[ -n ${CUDA_VISIBLE_DEVICES:-} ]]; then
  VISIBLE=$(tr ',' '\n' <<< "$CUDA_VISIBLE_DEVICES" | grep -c .)
else
  VISIBLE=$(nvidia-smi --list-gpus 2>/dev/null | wc -l || true)
fi
NUM_GPUS=${NUM_GPUS:-$VISIBLE}
[[ ${NUM_GPUS:-0} -ge 1 ]] || NUM_GPUS=1
export NUM_GPUS
FIRST_GPU=${CUDA_VISIBLE_DEVICES%%,*}
FIRST_GPU=${FIRST_GPU:-0}
ACCEL=${ACCELERATE_CONFIG:-$(dirname "$HERE")/configs/accelerate/$([[ $NUM_GPUS -eq 1 ]] && echo single_gpu || echo ddp).yaml}

run() { if [[ ${DRY_RUN:-0} == 1 ]]; then echo "$*"; else "$@"; fi; }

run "$DNO" prepare "$CONFIG" sample.backend=vllm policy.dtype=bfloat16 "$@" --run-dir "$RUN" \
  --train-processes "$NUM_GPUS" --accelerate-config "$ACCEL"
run env CUDA_VISIBLE_DEVICES="$FIRST_GPU" "$DNO" baseline "$RUN"
ITERS=$("$PYTHON" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["iterations"])' "$RUN/config.yaml" \
        2>/dev/null || echo 1)
for ((t = 1; t <= ITERS; t++)); do
  ACCELERATE_CONFIG=$ACCEL bash "$HERE/iteration.sh" "$RUN" "$t"
done
# Every stage is done: this only writes best.json, summary.md and report.md.
run env CUDA_VISIBLE_DEVICES="$FIRST_GPU" "$DNO" run "$RUN/config.yaml" --run-dir "$RUN"
