#!/usr/bin/env bash
# GPU call 53: review refactors — one float-dtype reader and dispatch for the scan, conv, row and attention entries (common.cuh), the attention kernels' cp.async helpers and double-buffer wait shared (attention_tiles.cuh), the scan entries' input reading — the whole conformance suite.
source .gpu/setup.sh
mkdir -p /tmp/r
t() { echo "== $1 $(date +%T)"; }
t build; node packages/backend-cuda/scripts/build-native.mjs --arch 90 > /tmp/r/build.txt 2>&1 || { cat /tmp/r/build.txt; exit 1; }
export BMOJO_CUDA_ADDON=$PWD/packages/backend-cuda/build/bmojo_cuda.node
t check; timeout 60 node .gpu-run/gpu-check.mjs --skip-models --json /tmp/r/gpu-check.json > /tmp/r/gpu-check.txt 2>&1; grep -E "passed|FAIL" /tmp/r/gpu-check.txt | head -20
t end
tar czf $OUT/results.tgz -C /tmp/r .
