#!/usr/bin/env bash
# GPU call 46: B'MOJO admissions made while the next replay runs (read of a step's SSM outputs not waited for): the read-snapshot conformance case, the B'MOJO model rows (replayed decode), one speed process.
source .gpu/setup.sh
mkdir -p /tmp/r/speed
t() { echo "== $1 $(date +%T)"; }
t build; node packages/backend-cuda/scripts/build-native.mjs --arch 90 > /tmp/r/build.txt 2>&1 || { cat /tmp/r/build.txt; exit 1; }
export BMOJO_CUDA_ADDON=$PWD/packages/backend-cuda/build/bmojo_cuda.node
t check; timeout 110 node .gpu-run/gpu-check.mjs --filter "contents as of" --models bmojo --json /tmp/r/gpu-check.json > /tmp/r/gpu-check.txt 2>&1; grep -E "passed|FAIL|bmojo" /tmp/r/gpu-check.txt | tail -16
S="experiment speed --backend cuda --size 130m --models transformer,mamba,bmojo --length 2048 --decode-steps 128 --repeats 5"
t speedA; timeout 100 node .gpu-run/gpu-cli.mjs $S --out-dir /tmp/r/speed/A > /tmp/r/speed/logA.txt 2>&1; grep -E "measured|rror" /tmp/r/speed/logA.txt
t end
tar czf $OUT/results.tgz -C /tmp/r .
