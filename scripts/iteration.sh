#!/usr/bin/env bash
# One DNO iteration on a GPU node, stage by stage, each stage in its own process(es) so that the vLLM
# engines' GPU memory is freed before training starts.
#
#   scripts/iteration.sh RUN_DIR T
#
#   sample  one `dno sample --shard` per group of sample.tensor_parallel_size GPUs, in parallel
#           (the last shard to finish merges them into samples.jsonl)
#   judge   `dno judge` (JUDGE_SHARDS > 1: that many shards in parallel, e.g. for an API judge)
#   pair    `dno pair`
#   train   `accelerate launch --config_file $ACCELERATE_CONFIG -m dno.cli train` on all GPUs
#   eval    `dno eval --iter T` on one GPU (the baseline first, if missing)
#
# Environment (all optional):
#   NUM_GPUS           GPUs to use on this node (default: those in CUDA_VISIBLE_DEVICES, else nvidia-smi's
#                      count, else 1); the stages use the first NUM_GPUS of CUDA_VISIBLE_DEVICES when it is set
#   TP                 GPUs per vLLM engine (default: the run's sample.tensor_parallel_size)
#   STAGES             which stages (default "sample judge pair train eval")
#   JUDGE_SHARDS       judge shards on this node (default 1)
#   ACCELERATE_CONFIG  default configs/accelerate/single_gpu.yaml for 1 GPU, else ddp.yaml
#   ACCELERATE_ARGS    extra `accelerate launch` arguments (several nodes: --num_machines ... see slurm/)
#   NUM_NODES, NODE_RANK  several nodes sharing RUN_DIR: shards are numbered across nodes (default 1, 0)
#   TRAIN_PROCESSES    total training processes (default NUM_NODES x NUM_GPUS)
#   DNO, PYTHON, ACCELERATE  the commands (default: dno, python, accelerate on PATH)
#   DRY_RUN=1          print the commands instead of running them
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 RUN_DIR ITERATION" >&2
  exit 2
fi
RUN=$1
T=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
DNO=${DNO:-dno}
PYTHON=${PYTHON:-python}
ACCELERATE=${ACCELERATE:-accelerate}
DRY_RUN=${DRY_RUN:-0}
STAGES=${STAGES:-sample judge pair train eval}
NUM_NODES=${NUM_NODES:-1}
NODE_RANK=${NODE_RANK:-0}
JUDGE_SHARDS=${JUDGE_SHARDS:-1}

# The GPUs this node may use: CUDA_VISIBLE_DEVICES when the scheduler set it (ids as it names them),
# else every GPU nvidia-smi lists.
if [[ -n ${CUDA_VISIBLE_DEVICES:-} ]]; then
  IFS=, read -r -a GPU_IDS <<< "$CUDA_VISIBLE_DEVICES"
else
  count=$(nvidia-smi --list-gpus 2>/dev/null | wc -l || true)
  count=${NUM_GPUS:-$count}
  [[ ${count:-0} -ge 1 ]] || count=1
  mapfile -t GPU_IDS < <(seq 0 $((count - 1)))
fi
NUM_GPUS=${NUM_GPUS:-${#GPU_IDS[@]}}
if (( NUM_GPUS > ${#GPU_IDS[@]} )); then
  echo "NUM_GPUS=$NUM_GPUS but only ${#GPU_IDS[@]} GPU(s) are visible (CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-unset})" >&2
  exit 2
fi
GPU_IDS=("${GPU_IDS[@]:0:NUM_GPUS}")
gpu_list() {  # gpu_list FIRST COUNT: the ids of GPUs FIRST..FIRST+COUNT-1, comma-separated
  local IFS=,
  echo "${GPU_IDS[*]:$1:$2}"
}
if [[ -z ${TP:-} ]]; then
  TP=$("$PYTHON" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["sample"].get("tensor_parallel_size", 1))' \
       "$RUN/config.yaml" 2>/dev/null || echo 1)
fi
if [[ -z ${ACCELERATE_CONFIG:-} ]]; then
  if [[ $NUM_GPUS -eq 1 && $NUM_NODES -eq 1 ]]; then
    ACCELERATE_CONFIG=$REPO/configs/accelerate/single_gpu.yaml
  else
    ACCELERATE_CONFIG=$REPO/configs/accelerate/ddp.yaml
  fi
fi
TRAIN_PROCESSES=${TRAIN_PROCESSES:-$((NUM_NODES * NUM_GPUS))}

run() {  # run a command, or print it with DRY_RUN=1
  if [[ $DRY_RUN == 1 ]]; then
    echo "$*"
  else
    echo "[iteration.sh] $*" >&2
    "$@"
  fi
}

wait_all() {  # wait for the background jobs; fail if any failed
  local failed=0 pid
  for pid in "$@"; do
    wait "$pid" || failed=1
  done
  if [[ $failed -ne 0 ]]; then
    echo "[iteration.sh] a shard failed; re-run the same command to redo the missing shards" >&2
    exit 1
  fi
}

stage_sample() {
  if (( NUM_GPUS % TP )); then
    echo "NUM_GPUS=$NUM_GPUS is not a multiple of TP=$TP (sample.tensor_parallel_size)" >&2
    exit 2
  fi
  local groups=$((NUM_GPUS / TP)) total g first gpus pids=()
  total=$((NUM_NODES * groups))
  for ((g = 0; g < groups; g++)); do
    first=$((g * TP))
    gpus=$(gpu_list "$first" "$TP")
    run env CUDA_VISIBLE_DEVICES="$gpus" "$DNO" sample "$RUN" --iter "$T" --shard "$((NODE_RANK * groups + g))/$total" \
      "sample.tensor_parallel_size=$TP" &
    pids+=($!)
  done
  wait_all "${pids[@]}"
  if [[ $NUM_NODES -eq 1 && ! -f $RUN/iter_$T/samples.jsonl ]]; then
    run "$DNO" merge "$RUN" --iter "$T" --stage sample
  fi
}

stage_judge() {
  if [[ $JUDGE_SHARDS -eq 1 && $NUM_NODES -eq 1 ]]; then
    run env CUDA_VISIBLE_DEVICES="${GPU_IDS[0]}" "$DNO" judge "$RUN" --iter "$T"
    return
  fi
  local total=$((NUM_NODES * JUDGE_SHARDS)) j pids=()
  for ((j = 0; j < JUDGE_SHARDS; j++)); do
    run env CUDA_VISIBLE_DEVICES="${GPU_IDS[$((j % NUM_GPUS))]}" "$DNO" judge "$RUN" --iter "$T" --shard "$((NODE_RANK * JUDGE_SHARDS + j))/$total" &
    pids+=($!)
  done
  wait_all "${pids[@]}"
  if [[ $NUM_NODES -eq 1 && ! -f $RUN/iter_$T/judgments.jsonl ]]; then
    run "$DNO" merge "$RUN" --iter "$T" --stage judge
  fi
}

stage_train() {
  # shellcheck disable=SC2086  # ACCELERATE_ARGS is a list of words
  run env CUDA_VISIBLE_DEVICES="$(gpu_list 0 "$NUM_GPUS")" \
    "$ACCELERATE" launch --config_file "$ACCELERATE_CONFIG" --num_processes "$TRAIN_PROCESSES" ${ACCELERATE_ARGS:-} \
    -m dno.cli train "$RUN" --iter "$T"
}

for stage in $STAGES; do
  case $stage in
    sample) stage_sample ;;
    judge) stage_judge ;;
    pair) run "$DNO" pair "$RUN" --iter "$T" ;;
    train) stage_train ;;
    eval) run env CUDA_VISIBLE_DEVICES="${GPU_IDS[0]}" "$DNO" eval "$RUN" --iter "$T" ;;
    *) echo "unknown stage $stage (known: sample judge pair train eval)" >&2; exit 2 ;;
  esac
done
