/**
 * Buffer views (`Backend.view`, used by `split`): reads, kernel reads and kernel writes through a
 * view reach the parent's bytes, and freeing views and parents balances the buffer count. Batched
 * reads (`Backend.readMany`, used by `readTensors`) return what one read per buffer returns. A read
 * resolves with the contents as of its call, whatever is issued after it.
 */
import { kernelOf } from "../backend/backend.js";
import { SkipCase } from "./types.js";
import { ConformanceMismatch, assertClose } from "./compare.js";
import type { ConformanceCase, ConformanceContext } from "./types.js";

const EXACT = { atol: 0, rtol: 0 };

/** The parent: 48 floats 0, 1, …; the view: floats [16, 32) as a 4×4 matrix. */
const PARENT = 48;
const START = 16;
const SIZE = 16;

async function withView(
  ctx: ConformanceContext,
  body: (ctx: ConformanceContext, parent: number, view: number) => Promise<void>,
): Promise<void> {
  const { backend } = ctx;
  if (backend.view === undefined) {
    throw new SkipCase(`backend '${backend.name}' has no buffer views (split copies instead)`);
  }
  const before = backend.numBuffers();
  const parent = backend.alloc(PARENT * 4);
  backend.write(
    parent,
    Float32Array.from({ length: PARENT }, (_, i) => i),
  );
  const view = backend.view(parent, START * 4, SIZE * 4);
  try {
    if (view === null) {
      throw new ConformanceMismatch("view: a 64-byte-aligned range was declined (null)");
    }
    await body(ctx, parent, view);
  } finally {
    if (view !== null) backend.free(view);
    backend.free(parent);
  }
  if (backend.numBuffers() !== before) {
    throw new ConformanceMismatch(
      `view: ${backend.numBuffers() - before} buffers left after freeing the view and its parent`,
    );
  }
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

/** Three buffers of odd sizes and two dtypes (the batch's 8-byte alignment), one read partly. */
async function readManyCase({ backend }: ConformanceContext): Promise<void> {
  if (backend.readMany === undefined) {
    throw new SkipCase(
      `backend '${backend.name}' has no readMany (readTensors reads one at a time)`,
    );
  }
  const data = [
    Float32Array.from(range(0, 7), (v) => v + 0.25),
    Int32Array.from(range(-3, 3)),
    Float32Array.from(range(0, 5), (v) => -v - 0.5),
  ];
  const ids = data.map((d) => backend.alloc(d.length * 4));
  try {
    for (const [i, id] of ids.entries()) backend.write(id, data[i]);
    const got = await backend.readMany([
      { id: ids[0], dtype: "float32", size: 7 },
      { id: ids[1], dtype: "int32", size: 3 },
      { id: ids[2], dtype: "float32", size: 4 },
    ]);
    const expected = [data[0], data[1], data[2].subarray(0, 4)];
    got.forEach((g, i) => {
      if (g.constructor !== expected[i].constructor) {
        throw new ConformanceMismatch(
          `readMany: array ${i} is a ${g.constructor.name}, expected ${expected[i].constructor.name}`,
        );
      }
      assertClose(`readMany array ${i}`, g, Array.from(expected[i]), EXACT);
    });
  } finally {
    for (const id of ids) backend.free(id);
  }
}

/** A read (and a readMany) issued before a write and a kernel resolves with the earlier contents. */
async function readSnapshotCase({ backend }: ConformanceContext): Promise<void> {
  const before = Float32Array.from(range(0, 8), (v) => v + 0.5);
  const id = backend.alloc(before.length * 4);
  try {
    backend.write(id, before);
    const read = backend.read(id, "float32", 8);
    const many = backend.readMany?.([{ id, dtype: "float32", size: 8 }]);
    backend.write(id, new Float32Array(8).fill(-1));
    kernelOf(backend, "fill")({ dtype: "float32", out: id, value: 7, size: 8 });
    assertClose("read issued before a write and a fill", await read, Array.from(before), EXACT);
    if (many !== undefined) {
      const [got] = await many;
      assertClose("readMany issued before a write and a fill", got, Array.from(before), EXACT);
    }
    assertClose(
      "a read after them",
      await backend.read(id, "float32", 8),
      new Array(8).fill(7),
      EXACT,
    );
  } finally {
    backend.free(id);
  }
}

export function storageCases(): ConformanceCase[] {
  const viewCase = (config: string, body: Parameters<typeof withView>[1]): ConformanceCase => ({
    name: `kernel/view float32 ${config}`,
    group: "kernel",
    run: (ctx) => withView(ctx, body),
  });
  return [
    {
      name: "kernel/readMany float32 and int32, odd sizes",
      group: "kernel",
      run: readManyCase,
    },
    {
      name: "kernel/read resolves with the contents as of its call",
      group: "kernel",
      run: readSnapshotCase,
    },
    viewCase("read", async (ctx, _parent, view) => {
      const got = await ctx.backend.read(view, "float32", SIZE);
      assertClose("read through the view", got, range(START, SIZE), EXACT);
    }),
    viewCase(
      "kernel input (matmul of the 4×4 view by the identity)",
      async ({ backend }, _parent, view) => {
        const eye = backend.alloc(SIZE * 4);
        const out = backend.alloc(SIZE * 4);
        try {
          backend.write(
            eye,
            Float32Array.from({ length: SIZE }, (_, i) => (i % 5 === 0 ? 1 : 0)),
          );
          backend.kernels.matmul?.({
            dtype: "float32",
            a: view,
            b: eye,
            out,
            batch: 1,
            m: 4,
            n: 4,
            k: 4,
            transA: false,
            transB: false,
            aBatchStride: 0,
            bBatchStride: 0,
          });
          assertClose(
            "matmul(view, I)",
            await backend.read(out, "float32", SIZE),
            range(START, SIZE),
            {
              atol: 1e-6,
              rtol: 0,
            },
          );
        } finally {
          backend.free(eye);
          backend.free(out);
        }
      },
    ),
    viewCase("kernel output (copy into the view)", async ({ backend }, parent, view) => {
      const src = backend.alloc(SIZE * 4);
      try {
        backend.write(
          src,
          Float32Array.from({ length: SIZE }, (_, i) => -1 - i),
        );
        backend.kernels.copy?.({
          dtype: "float32",
          x: src,
          out: view,
          shape: [SIZE],
          xStrides: [1],
          xOffset: 0,
          outStrides: [1],
          outOffset: 0,
        });
        const expected = range(0, PARENT).map((v, i) =>
          i >= START && i < START + SIZE ? -1 - (i - START) : v,
        );
        assertClose(
          "the parent after a copy into its view",
          await backend.read(parent, "float32", PARENT),
          expected,
          EXACT,
        );
      } finally {
        backend.free(src);
      }
    }),
  ];
}
