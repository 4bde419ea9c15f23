#!/usr/bin/env bash
# Sets up a development checkout: .venv with the CPU build of torch, mmlens with every extra,
# Debian's Chromium for the report's browser tests and PostgreSQL for the store tests. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -d .venv ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# The CPU build first: anything that depends on torch must not pull a multi-GB CUDA build.
python -m pip install --quiet torch==2.13.0
python -m pip install --quiet -e ".[hf,data,report,analysis,serve,fast,robustness,trackers,text-similarity,judges,postgres,video,video-decord,ray,dev]"

# Debian's Chromium (the report's browser tests) and PostgreSQL (the store suite starts its own
# server from /usr/lib/postgresql/*/bin; no service needs to run).
APT_PACKAGES=""
[ -x /usr/bin/chromium ] || APT_PACKAGES="$APT_PACKAGES chromium"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || APT_PACKAGES="$APT_PACKAGES postgresql"
if [ -n "$APT_PACKAGES" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $APT_PACKAGES >/dev/null
fi
# A real vLLM (CPU build) in its own .venv-vllm: the vllm and served:vllm backends' tests use it.
bash scripts/setup_vllm.sh
echo "setup done: activate with '. .venv/bin/activate'"
