/**
 * The `cuda-bf16` model check's numbers without a GPU: the reference cpu backend with every
 * matmul input rounded to bf16 (ties to even, as the cuda backend's bf16 path rounds them),
 * against the plain cpu backend, for B'MOJO `small` with NoPE and with RoPE. Prints the relative
 * errors the model check prints and how many eidetic tokens the rounding changes per layer.
 *
 *   pnpm --filter @bmojo/backend-cuda bf16-emulation
 */
import { LanguageModel, type ModelConfig, preset } from "@bmojo/model";
import { compareModel } from "@bmojo/model/testing";
import { CpuBackend, type MatmulArgs, Random, tensor } from "@bmojo/tensor";

/** float32 values rounded to the nearest bf16 (ties to even), kept as float32. */
function roundToBf16(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  const bits = new Uint32Array(out.buffer);
  const src = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < x.length; i++) {
    const v = src[i];
    bits[i] = ((v + 0x7fff + ((v >>> 16) & 1)) >>> 0) & 0xffff0000;
  }
  return out;
}

/** Elements a matmul operand spans: its batches at their stride, then one [rows, cols] block. */
function operandSize(batch: number, stride: number, rows: number, cols: number): number {
  return stride * (batch - 1) + rows * cols;
}

/** A cpu backend whose matmul rounds both inputs to bf16 first (float32 accumulation and output). */
function bf16MatmulCpu(): CpuBackend {
  const backend = new CpuBackend("cpu-bf16-matmul");
  const matmul = backend.kernels.matmul.bind(backend.kernels);
  const rounded = (id: number, size: number): number => {
    const copy = backend.alloc(size * 4);
    backend.write(copy, roundToBf16(backend.readSync(id, "float32", size) as Float32Array));
    return copy;
  };
  backend.kernels.matmul = (args: MatmulArgs) => {
    if (args.dtype !== "float32") return matmul(args);
    const a = rounded(args.a, operandSize(args.batch, args.aBatchStride, args.m, args.k));
    const b = rounded(args.b, operandSize(args.batch, args.bBatchStride, args.k, args.n));
    try {
      matmul({ ...args, a, b });
    } finally {
      backend.free(a);
      backend.free(b);
    }
  };
  return backend;
}

/** Per layer, how many of the eidetic positions chosen on `b` are not among those chosen on `a`. */
function selectionChanges(config: ModelConfig, a: CpuBackend, b: CpuBackend): string[] {
  const chosen = (backend: CpuBackend) => {
    const model = new LanguageModel(config, { backend });
    const ids = new Random(7).intArray(2 * 160, 0, config.vocabSize);
    model.forward(tensor(ids, [2, 160], { dtype: "int32", backend })).dispose();
    const positions = model.lastSelections().map((s) => s.memory.positions);
    model.dispose();
    return positions;
  };
  const [ref, test] = [chosen(a), chosen(b)];
  return ref.map((layer, l) => {
    let changed = 0;
    let total = 0;
    for (const [s, sequence] of layer.entries()) {
      for (const [c, chunk] of sequence.entries()) {
        const held = new Set(chunk);
        total += chunk.length;
        for (const p of test[l][s][c]) if (!held.has(p)) changed++;
      }
    }
    return `${changed}/${total}`;
  });
}

async function main(): Promise<void> {
  const reference = new CpuBackend("cpu-reference");
  const rows: string[][] = [];
  for (const positions of ["none", "rope"] as const) {
    const config = preset("bmojo", "small", { seed: 3, bmojo: { positions } });
    const r = await compareModel(config, reference, bf16MatmulCpu(), [2, 160]);
    rows.push([
      positions,
      r.logitsRelError.toExponential(2),
      r.decodeRelError.toExponential(2),
      `${r.gradRelError.toExponential(2)} (${r.worstGrad})`,
      selectionChanges(config, reference, bf16MatmulCpu()).join(", "),
    ]);
  }
  console.log(
    "| B'MOJO small | logits rel | decode rel | grads rel (worst) | eidetic tokens changed per layer |",
  );
  console.log("| --- | ---: | ---: | --- | --- |");
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
}

await main();
