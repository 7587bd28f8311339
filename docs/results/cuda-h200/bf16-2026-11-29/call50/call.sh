#!/usr/bin/env bash
# GPU call 50: this build, all in one call — the whole conformance suite (every bfloat16 case; the attention forward and backward on tensor cores), the model check of the tiny and small rows (float32 storage in strict fp32, TF32 and bf16 products; bf16 compute), the kernel benchmarks in float32 and bf16 storage, PyTorch's kernel anchors, training in TF32 and bf16 compute, and the speed experiment in bf16 compute and float32.
source .gpu/setup.sh
mkdir -p /tmp/r/speed
t() { echo "== $1 $(date +%T)"; }
t build; node packages/backend-cuda/scripts/build-native.mjs --arch 90 > /tmp/r/build.txt 2>&1 || { cat /tmp/r/build.txt; exit 1; }
export BMOJO_CUDA_ADDON=$PWD/packages/backend-cuda/build/bmojo_cuda.node
t check; timeout 200 node .gpu-run/gpu-check.mjs --models tiny,small --json /tmp/r/gpu-check.json > /tmp/r/gpu-check.txt 2>&1; grep -E "passed|FAIL" /tmp/r/gpu-check.txt | cut -c1-300 | head -30
t bench; timeout 110 node .gpu-run/gpu-bench.mjs --sections kernels --json /tmp/r/speed-kernels.json > /tmp/r/gpu-bench.txt 2>&1; grep -E "attention|selective|storage|rror" /tmp/r/gpu-bench.txt
t torch; (cd packages/bench/anchors/pytorch && timeout 100 python3 bench.py --only kernels --no-compile --dtype both --out /tmp/r/pytorch-kernels.json > /tmp/r/pytorch-kernels.txt 2>&1); grep -E "^kernels .*(bf16|B'MOJO mask, dense)" /tmp/r/pytorch-kernels.txt | head -12
t train; timeout 150 node .gpu-run/gpu-bench.mjs --sections models --precisions tf32,bf16-compute --json /tmp/r/speed-train.json > /tmp/r/gpu-train.txt 2>&1; grep -E "train|rror" /tmp/r/gpu-train.txt
S="experiment speed --backend cuda --size 130m --models transformer,mamba,bmojo --length 2048 --decode-steps 128 --repeats 5"
t speedB; timeout 80 node .gpu-run/gpu-cli.mjs $S --compute bfloat16 --out-dir /tmp/r/speed/B > /tmp/r/speed/logB.txt 2>&1; grep -E "measured|rror" /tmp/r/speed/logB.txt
t speedA; timeout 80 node .gpu-run/gpu-cli.mjs $S --out-dir /tmp/r/speed/A > /tmp/r/speed/logA.txt 2>&1; grep -E "measured|rror" /tmp/r/speed/logA.txt
t end
tar czf $OUT/results.tgz -C /tmp/r .
