#!/usr/bin/env bash
# Sets up a development checkout: .venv with the CPU build of torch, mmlens with every extra,
# and Debian's Chromium for the report's browser tests. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -d .venv ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# The CPU build first: anything that depends on torch must not pull a multi-GB CUDA build.
python -m pip install --quiet torch==2.13.0
python -m pip install --quiet -e ".[hf,data,report,analysis,serve,fast,robustness,trackers,text-similarity,judges,dev]"

if [ ! -x /usr/bin/chromium ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
echo "setup done: activate with '. .venv/bin/activate'"
