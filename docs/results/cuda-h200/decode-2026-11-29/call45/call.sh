#!/usr/bin/env bash
# GPU call 45: B'MOJO steps compile (device position, host admission around the replay): the model check (every plan's replayed decode, B'MOJO 130m crossing chunk boundaries), then two speed processes around the PyTorch anchor.
source .gpu/setup.sh
mkdir -p /tmp/r/torch /tmp/r/speed
t() { echo "== $1 $(date +%T)"; }
t build; node packages/backend-cuda/scripts/build-native.mjs --arch 90 > /tmp/r/build.txt 2>&1 || { cat /tmp/r/build.txt; exit 1; }
export BMOJO_CUDA_ADDON=$PWD/packages/backend-cuda/build/bmojo_cuda.node
t check; timeout 200 node .gpu-run/gpu-check.mjs --skip-conformance --json /tmp/r/gpu-check.json > /tmp/r/gpu-check.txt 2>&1; grep -E "passed|FAIL|bmojo" /tmp/r/gpu-check.txt | tail -16
S="experiment speed --backend cuda --size 130m --models transformer,mamba,bmojo --length 2048 --decode-steps 128 --repeats 5"
t speedA; timeout 120 node .gpu-run/gpu-cli.mjs $S --out-dir /tmp/r/speed/A > /tmp/r/speed/logA.txt 2>&1; grep -E "measured|rror" /tmp/r/speed/logA.txt
t torch; timeout 80 python3 packages/bench/anchors/pytorch/bench.py --only models --plans bmojo,transformer,mamba --no-compile --dtype fp32 --fp32-matmul tf32 --batch 1 --length 2048 --reps 3 --budget-s 0.3 --decode-graph --out /tmp/r/torch/decode.json > /tmp/r/torch/log.txt 2>&1; grep -E "^models .*decode|rror" /tmp/r/torch/log.txt
t speedB; timeout 120 node .gpu-run/gpu-cli.mjs $S --out-dir /tmp/r/speed/B > /tmp/r/speed/logB.txt 2>&1; grep -E "measured|rror" /tmp/r/speed/logB.txt
t end
tar czf $OUT/results.tgz -C /tmp/r .
