/**
 * Program capture (`Backend.beginCapture`, used by `capture` and LanguageModel.compileStep): a
 * replay gives what running the same ops eagerly gives, from the inputs' values at replay time;
 * writes made while capturing replay their captured data; reads refuse while capturing; every
 * buffer the program reserved is freed once it is disposed. Skipped where a backend cannot capture.
 */
import type { Backend } from "../backend/backend.js";
import { capture, canCapture } from "../capture.js";
import { tidy } from "../engine.js";
import { add, mul, silu } from "../ops/elementwise.js";
import { gather } from "../ops/indexing.js";
import { assignHost } from "../ops/inplace.js";
import { matmul } from "../ops/matmul.js";
import { rmsNorm } from "../ops/nn-ops.js";
import { sum } from "../ops/reduction.js";
import type { Tensor } from "../tensor.js";
import { tensor } from "../ops/creation.js";
import { ConformanceMismatch, assertClose } from "./compare.js";
import { type ConformanceCase, type ConformanceContext, SkipCase } from "./types.js";

const EXACT = { atol: 0, rtol: 0 };

function requireCapture(backend: Backend): void {
  if (!canCapture(backend)) {
    throw new SkipCase(`backend '${backend.name}' cannot capture programs (steps run eagerly)`);
  }
}

const floats = (n: number, seed: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.3 + i * 1.7) * 2);

/** A small decode-like program: gather rows, normalise, project, gate, reduce. */
function program(table: Tensor, ids: Tensor, w: Tensor, gain: Tensor): Tensor {
  return tidy(() => {
    const x = gather(table, ids, 0);
    const h = matmul(rmsNorm(x, gain, 1e-5), w, { transposeB: true });
    return add(mul(silu(h), h), sum(h, [1], true));
  });
}

async function replayCase({ backend }: ConformanceContext): Promise<void> {
  requireCapture(backend);
  const before = backend.numBuffers();
  const on = { backend };
  const table = tensor(floats(10 * 24, 1), [10, 24], on);
  const w = tensor(floats(40 * 24, 2), [40, 24], on);
  const gain = tensor(floats(24, 3), [24], on);
  const ids = tensor(Int32Array.of(3, 7), [2], { ...on, dtype: "int32" });
  const { value: out, program: p } = await capture(backend, () => program(table, ids, w, gain));
  try {
    for (const [round, rows, seed] of [
      [0, [3, 7], 1],
      [1, [9, 0], 4],
      [2, [9, 0], 5],
    ] as const) {
      assignHost(ids, rows);
      assignHost(table, floats(10 * 24, seed));
      p.replay();
      const eager = program(table, ids, w, gain);
      const got = await out.data();
      assertClose(
        `replay ${round} against the same ops run eagerly`,
        got,
        await eager.data(),
        EXACT,
      );
      eager.dispose();
    }
  } finally {
    p.dispose();
    for (const t of [out, table, w, gain, ids]) t.dispose();
  }
  if (backend.numBuffers() !== before) {
    throw new ConformanceMismatch(
      `capture: ${backend.numBuffers() - before} buffers left after disposing the program and its tensors`,
    );
  }
}

async function writeCase({ backend }: ConformanceContext): Promise<void> {
  requireCapture(backend);
  const x = tensor(Float32Array.of(1, 2, 3, 4), [4], { backend });
  const data = Float32Array.of(10, 20, 30, 40);
  const { value: y, program: p } = await capture(backend, () => {
    const w = tensor(data, [4], { backend }); // a write while capturing
    const out = mul(x, w);
    w.dispose(); // freed while capturing: the program keeps its buffer
    return out;
  });
  data.fill(-1); // the caller's array changes; the program copied it
  try {
    p.replay();
    p.replay();
    assertClose("a write made while capturing, replayed", await y.data(), [10, 40, 90, 160], EXACT);
  } finally {
    p.dispose();
    y.dispose();
    x.dispose();
  }
}

async function refusesReadsCase({ backend }: ConformanceContext): Promise<void> {
  requireCapture(backend);
  const before = backend.numBuffers();
  const x = tensor(Float32Array.of(1, 2), [2], { backend });
  let refused = false;
  try {
    await capture(backend, async () => {
      const y = add(x, x);
      try {
        return await y.data();
      } finally {
        y.dispose();
      }
    });
  } catch (error) {
    refused = /while capturing/.test(String(error));
    if (!refused) throw error;
  }
  if (!refused) throw new ConformanceMismatch("capture: a read while capturing did not throw");
  // The failed capture is gone: another one works.
  const { value: y, program: p } = await capture(backend, () => add(x, x));
  p.replay();
  assertClose("a capture after a failed one", await y.data(), [2, 4], EXACT);
  p.dispose();
  y.dispose();
  x.dispose();
  if (backend.numBuffers() !== before) {
    throw new ConformanceMismatch(
      `capture: ${backend.numBuffers() - before} buffers left after a failed and a good capture`,
    );
  }
}

export function captureCases(): ConformanceCase[] {
  return [
    {
      name: "kernel/capture replays gather, rmsNorm, matmul, silu, sum as run eagerly",
      group: "kernel",
      run: replayCase,
    },
    {
      name: "kernel/capture replays a write made while capturing",
      group: "kernel",
      run: writeCase,
    },
    {
      name: "kernel/capture refuses a read and is discarded",
      group: "kernel",
      run: refusesReadsCase,
    },
  ];
}
