#!/usr/bin/env bash
# Download the wheels bench/gpu/check.sh carries to a GPU machine that has no network.
#
#     bash bench/gpu/fetch_wheels.sh            # into .whl/ at the repository root
#
# The machine (workplace kind nvidia-h200, /work/.library/device/KINDS.md) runs Python 3.12
# with PyTorch, transformers 5.17, huggingface_hub 1.x, pyarrow, typer, rich, accelerate,
# safetensors and pillow preinstalled. Carried here:
#   needed:  decord (video decoding), num2words (the SmolVLM processor refuses to start without it)
#   stack:   the transformers this project is tested with (5.25) and what it needs that the
#            machine lacks or has too old: huggingface_hub 2.x and its httpx2 client.
#            check.sh tries the stack first and falls back to the machine's own transformers
#            (dropping these wheels) if a smoke test fails with them.
# docopt (num2words' command-line needs) ships no wheel and is not imported by the library.
# .whl/ must stay out of git: this script adds it to .git/info/exclude.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=${WHEEL_DIR:-.whl}
NEEDED=(decord==0.6.0 num2words==0.5.14)
STACK=(transformers==5.25.0 huggingface_hub==2.4.0 httpx2==2.16.2 httpcore2==2.16.2 truststore==0.10.5)
PIP=${PIP:-python3 -m pip}

if [ -d .git ] && mkdir -p .git/info && ! grep -qx '/.whl/' .git/info/exclude 2>/dev/null; then
    echo '/.whl/' >> .git/info/exclude
fi
mkdir -p "$DEST"
$PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux2010_x86_64 \
    -d "$DEST" "${NEEDED[@]}" "${STACK[@]}"
ls -la "$DEST"
du -sh "$DEST"
