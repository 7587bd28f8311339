#!/usr/bin/env bash
# GPU call 47: bfloat16 storage — the whole conformance suite (bf16 cases of every kernel), kernel benchmarks in float32 and bf16 storage, and PyTorch's kernel anchors (bf16 matmul added).
source .gpu/setup.sh
mkdir -p /tmp/r
t() { echo "== $1 $(date +%T)"; }
t build; node packages/backend-cuda/scripts/build-native.mjs --arch 90 > /tmp/r/build.txt 2>&1 || { cat /tmp/r/build.txt; exit 1; }
export BMOJO_CUDA_ADDON=$PWD/packages/backend-cuda/build/bmojo_cuda.node
t check; timeout 150 node .gpu-run/gpu-check.mjs --skip-models --json /tmp/r/gpu-check.json > /tmp/r/gpu-check.txt 2>&1; grep -E "passed|FAIL" /tmp/r/gpu-check.txt | head -60
t bench; timeout 150 node .gpu-run/gpu-bench.mjs --sections kernels --json /tmp/r/speed-kernels.json > /tmp/r/gpu-bench.txt 2>&1; cat /tmp/r/gpu-bench.txt | tail -30
t torch; (cd packages/bench/anchors/pytorch && timeout 200 python3 bench.py --only kernels --no-compile --dtype both --out /tmp/r/pytorch-kernels.json > /tmp/r/pytorch-kernels.txt 2>&1); grep -iE "matmul|scan|attention|error" /tmp/r/pytorch-kernels.txt | tail -30
t end
tar czf $OUT/results.tgz -C /tmp/r .
