#!/usr/bin/env bash
# GPU call 48: mixed precision (computeDType bfloat16) — the whole-model check of every plan against the cpu's bf16 emulation, training tokens/s in TF32, bf16 products and bf16 compute, and the speed experiment (prefill, decode, replays) in bf16 compute and float32 in one call.
source .gpu/setup.sh
mkdir -p /tmp/r/speed
t() { echo "== $1 $(date +%T)"; }
t build; node packages/backend-cuda/scripts/build-native.mjs --arch 90 > /tmp/r/build.txt 2>&1 || { cat /tmp/r/build.txt; exit 1; }
export BMOJO_CUDA_ADDON=$PWD/packages/backend-cuda/build/bmojo_cuda.node
t check; timeout 120 node .gpu-run/gpu-check.mjs --skip-conformance --models "bf16 compute" --json /tmp/r/gpu-check.json > /tmp/r/gpu-check.txt 2>&1; grep -E "passed|FAIL|ok  " /tmp/r/gpu-check.txt | cut -c1-330
t train; timeout 200 node .gpu-run/gpu-bench.mjs --sections models --precisions tf32,bf16,bf16-compute --json /tmp/r/speed-train.json > /tmp/r/gpu-bench.txt 2>&1; grep -E "train|rror" /tmp/r/gpu-bench.txt
S="experiment speed --backend cuda --size 130m --models transformer,mamba,bmojo --length 2048 --decode-steps 128 --repeats 5"
t speedB; timeout 110 node .gpu-run/gpu-cli.mjs $S --compute bfloat16 --out-dir /tmp/r/speed/B > /tmp/r/speed/logB.txt 2>&1; grep -E "measured|rror" /tmp/r/speed/logB.txt
t speedA; timeout 100 node .gpu-run/gpu-cli.mjs $S --out-dir /tmp/r/speed/A > /tmp/r/speed/logA.txt 2>&1; grep -E "measured|rror" /tmp/r/speed/logA.txt
t end
tar czf $OUT/results.tgz -C /tmp/r .
