/**
 * Buffer views (`Backend.view`, used by `split`): reads, kernel reads and kernel writes through a
 * view reach the parent's bytes, and freeing views and parents balances the buffer count.
 */
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

export function storageCases(): ConformanceCase[] {
  const viewCase = (config: string, body: Parameters<typeof withView>[1]): ConformanceCase => ({
    name: `kernel/view float32 ${config}`,
    group: "kernel",
    run: (ctx) => withView(ctx, body),
  });
  return [
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
