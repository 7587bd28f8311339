#!/usr/bin/env bash
# GPU call 52: the scan step with a float32 state under bfloat16 inputs (no casts around a Mamba decode step in bf16 compute) — the whole conformance suite, the bf16-compute model rows (tiny, small), and the speed experiment in bf16 compute and float32.
source .gpu/setup.sh
mkdir -p /tmp/r/speed
t() { echo "== $1 $(date +%T)"; }
t build; node packages/backend-cuda/scripts/build-native.mjs --arch 90 > /tmp/r/build.txt 2>&1 || { cat /tmp/r/build.txt; exit 1; }
export BMOJO_CUDA_ADDON=$PWD/packages/backend-cuda/build/bmojo_cuda.node
t check; timeout 90 node .gpu-run/gpu-check.mjs --models "tiny bf16,small bf16" --json /tmp/r/gpu-check.json > /tmp/r/gpu-check.txt 2>&1; grep -E "passed|FAIL" /tmp/r/gpu-check.txt | cut -c1-300 | head -20
S="experiment speed --backend cuda --size 130m --models transformer,mamba,bmojo --length 2048 --decode-steps 128 --repeats 5"
t speedB; timeout 80 node .gpu-run/gpu-cli.mjs $S --compute bfloat16 --out-dir /tmp/r/speed/B > /tmp/r/speed/logB.txt 2>&1; grep -E "measured|rror" /tmp/r/speed/logB.txt
t speedA; timeout 80 node .gpu-run/gpu-cli.mjs $S --out-dir /tmp/r/speed/A > /tmp/r/speed/logA.txt 2>&1; grep -E "measured|rror" /tmp/r/speed/logA.txt
t end
tar czf $OUT/results.tgz -C /tmp/r .
