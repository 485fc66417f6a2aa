#!/usr/bin/env bash
# The GPU check of issue 19: one prepared script for a fresh GPU machine with no network.
#
#     bash bench/gpu/check.sh                       # on the GPU machine (device cuda), under 8 minutes
#     bash bench/gpu/check.sh --device cpu --quick  # the CPU dry run: every step at tiny sizes
#
# 1. installs the wheels carried in .whl/ (bench/gpu/fetch_wheels.sh) into a private folder
#    put first on PYTHONPATH (the project itself runs from the checkout: PYTHONPATH=.);
#    on --device cpu only with --install;
# 2. smoke test (bench/gpu/smoke.py): versions, GPU, one short engine generation; if it fails
#    with the carried transformers stack, retries with the machine's own transformers;
# 3. bench/gpu/check.py: parity on the device, checkpoints, roofline, caption-dir for two
#    model sizes, interactive latency; each step under a hard timeout, all under one budget.
#
# Results: $OUT/gpu_results.md, $OUT/gpu_results.json, $OUT/check.log ($OUT defaults to
# /tmp/gpu-check-out when unset; --out DIR overrides). Other options go to check.py
# (--budget SECONDS, --only STEP..., --skip STEP..., see `python bench/gpu/check.py --help`).
# Exit code: 0 when every step passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DEVICE=cuda
QUICK=()
INSTALL=auto
OUTDIR=${OUT:-/tmp/gpu-check-out}
PASS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE=$2; shift 2 ;;
        --device=*) DEVICE=${1#*=}; shift ;;
        --quick) QUICK=(--quick); shift ;;
        --install) INSTALL=yes; shift ;;
        --no-install) INSTALL=no; shift ;;
        --out) OUTDIR=$2; shift 2 ;;
        --out=*) OUTDIR=${1#*=}; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) PASS+=("$1"); shift ;;
    esac
done
PY=${PYTHON:-python3}
mkdir -p "$OUTDIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check-XXXXXX")
PARTS=$WORK/parts
SITE=$WORK/site
mkdir -p "$PARTS"
LOG=$OUTDIR/check.log
: > "$LOG"
log() { echo "$*" | tee -a "$LOG"; }
T0=$(date +%s)
log "check.sh: device $DEVICE ${QUICK[*]+${QUICK[*]}}, out $OUTDIR, work $WORK, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 \
    TOKENIZERS_PARALLELISM=false TRANSFORMERS_VERBOSITY=error
BASE_PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH=$BASE_PYTHONPATH

STACK_RE='^(transformers|huggingface_hub|httpx2|httpcore2|truststore)-'
install() {  # install() all|needed: the carried wheels (all, or without the transformers stack) into $SITE
    local wheels=()
    for w in .whl/*.whl; do
        [ -e "$w" ] || continue
        if [ "$1" = needed ] && basename "$w" | grep -Eq "$STACK_RE"; then continue; fi
        wheels+=("$w")
    done
    rm -rf "$SITE"
    [ ${#wheels[@]} -gt 0 ] || { WHEELS="none"; return 0; }
    log "installing ${#wheels[@]} wheels ($1) into $SITE"
    timeout -k 5 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" "${wheels[@]}" 2>&1 | tee -a "$LOG"
    export PYTHONPATH=$SITE:$BASE_PYTHONPATH
    WHEELS="$1: $(for w in "${wheels[@]}"; do basename "$w" | cut -d- -f1-2; done | tr '\n' ' ')"
}

smoke() {
    timeout -k 5 150 "$PY" bench/gpu/smoke.py --device "$DEVICE" --json-out "$PARTS/smoke.json" 2>&1 | tee -a "$LOG"
    return "${PIPESTATUS[0]}"
}

WHEELS="none installed"
if [ "$INSTALL" = yes ] || { [ "$INSTALL" = auto ] && [ "$DEVICE" != cpu ]; }; then
    if ls .whl/*.whl >/dev/null 2>&1; then
        install all
    else
        log "no .whl/ folder: using the machine's packages (run bench/gpu/fetch_wheels.sh here and carry .whl)"
    fi
fi
S0=$(date +%s)
log "=== smoke ==="
smoke
RC=$?
if [ $RC -ne 0 ] && ls "$SITE"/transformers* >/dev/null 2>&1; then
    log "smoke failed with the carried transformers stack; retrying with the machine's own transformers"
    install needed
    smoke
    RC=$?
fi
NOTE=""
[ $RC -eq 0 ] || NOTE="FAILED (exit $RC)"
printf '{"steps": [{"name": "smoke", "rc": %d, "seconds": %d, "note": "%s"}]}\n' "$RC" "$(( $(date +%s) - S0 ))" "$NOTE" \
    > "$PARTS/steps.json"
log "=== smoke: exit $RC, $(( $(date +%s) - T0 )) s since the start (install included) ==="

"$PY" bench/gpu/check.py --device "$DEVICE" ${QUICK[@]+"${QUICK[@]}"} --out "$OUTDIR" --work "$WORK" --parts "$PARTS" \
    --wheels "$WHEELS" ${PASS[@]+"${PASS[@]}"}
RC2=$?
log "check.sh: $(( $(date +%s) - T0 )) s in all"
rm -rf "$WORK"
[ $RC -eq 0 ] && exit $RC2 || exit 1
