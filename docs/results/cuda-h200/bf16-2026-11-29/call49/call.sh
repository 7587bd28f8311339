#!/usr/bin/env bash
# GPU call 49: the bf16 attention forward on tensor cores (mma.sync) — the whole conformance suite (new prefill-tile attention cases at Dh 64 and 128), the kernel benchmarks, training and speed in bf16 compute with it, and the 130m B'MOJO bf16-compute model row.
source .gpu/setup.sh
mkdir -p /tmp/r/speed
t() { echo "== $1 $(date +%T)"; }
t build; node packages/backend-cuda/scripts/build-native.mjs --arch 90 > /tmp/r/build.txt 2>&1 || { cat /tmp/r/build.txt; exit 1; }
export BMOJO_CUDA_ADDON=$PWD/packages/backend-cuda/build/bmojo_cuda.node
t check; timeout 100 node .gpu-run/gpu-check.mjs --skip-models --json /tmp/r/gpu-check.json > /tmp/r/gpu-check.txt 2>&1; grep -E "passed|FAIL" /tmp/r/gpu-check.txt | cut -c1-400 | head -40
t bench; timeout 120 node .gpu-run/gpu-bench.mjs --sections kernels --json /tmp/r/speed-kernels.json > /tmp/r/gpu-bench.txt 2>&1; grep -E "attention|selective|storage|rror" /tmp/r/gpu-bench.txt
t train; timeout 120 node .gpu-run/gpu-bench.mjs --sections models --precisions bf16-compute --json /tmp/r/speed-train.json > /tmp/r/gpu-train.txt 2>&1; grep -E "train|rror" /tmp/r/gpu-train.txt
S="experiment speed --backend cuda --size 130m --models transformer,mamba,bmojo --length 2048 --decode-steps 128 --repeats 5 --compute bfloat16"
t speedB; timeout 90 node .gpu-run/gpu-cli.mjs $S --out-dir /tmp/r/speed/B > /tmp/r/speed/logB.txt 2>&1; grep -E "measured|rror" /tmp/r/speed/logB.txt
t check130m; timeout 150 node .gpu-run/gpu-check.mjs --skip-conformance --models "130m bf16" --json /tmp/r/gpu-check-130m.json > /tmp/r/gpu-check-130m.txt 2>&1; grep -E "passed|FAIL|ok  " /tmp/r/gpu-check-130m.txt | cut -c1-330
t end
tar czf $OUT/results.tgz -C /tmp/r .
