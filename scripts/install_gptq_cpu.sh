#!/usr/bin/env bash
# GPTQ on the CPU set-up, without a CUDA build of torch. `pip install -e '.[gptq]'` resolves gptqmodel 7.7, which
# asks for torch >= 2.14.1 (a multi-GB CUDA build here); its pure-Python package runs on the CPU torch 2.13.0 of
# scripts/setup.sh (torch kernel TorchAtenLinear), so install it and its small dependencies without resolving.
# torchao (listed by gptqmodel) is left out: GPTQ does not need it, and once installed transformers imports it on
# every model load and prints failures to load its CUDA libraries.
# Checked with torch 2.13.0+cpu and transformers 5.24: tests/test_llm_backends.py::
# test_a_real_gptq_checkpoint_made_on_cpu_loads_and_scores quantizes the tiny model, reloads and scores it.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pip install -q --no-deps gptqmodel==7.7.0 optimum==2.3.0 device-smi==0.5.7 pypcre==0.6.4 \
  tokenicer==0.0.14 logbar==0.4.15 defuser==0.0.28
.venv/bin/python -c "import gptqmodel, optimum; print('gptqmodel', gptqmodel.__version__, '+ optimum installed')"
