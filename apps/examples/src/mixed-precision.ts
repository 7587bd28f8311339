/**
 * Mixed precision: the same model (same seed, same batches) trained twice with AdamW, once in
 * float32 and once with `computeDType: "bfloat16"` (float32 parameters, bfloat16 activations and
 * caches), printing both loss curves and the bytes of one decoding cache. The task: predict the
 * next token of sequences where each token follows from the one before (t → (5t + 3) mod vocab),
 * from random starts. Exits non-zero if the bfloat16 run does not learn (its loss ends above half
 * its start) or ends more than 10% above the float32 run.
 *
 *   node apps/examples/dist/mixed-precision.js [--plan bmojo] [--steps 60]
 *
 * It runs on the default (cpu) backend, where bfloat16 is emulated: exact, slow (~20 s). The speed
 * on a GPU is in docs/results/bench-cuda.md.
 */
import { AdamW } from "@bmojo/nn";
import { LanguageModel, type PlanName, preset } from "@bmojo/model";
import { Random, type Tensor, dispose, tensor, valueAndGrad } from "@bmojo/tensor";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : (process.argv[i + 1] ?? fallback);
}
const plan = flag("--plan", "bmojo") as PlanName;
const steps = Number(flag("--steps", "60"));
if (!Number.isInteger(steps) || steps < 1) {
  throw new Error(`--steps must be a positive integer, got ${flag("--steps", "")}`);
}
const [batch, length] = [8, 32];

/** Batch `step`: rows from random starts, each next token (5t + 3) mod vocab. */
function batchOf(step: number, vocab: number): { ids: Tensor; targets: Tensor } {
  const starts = new Random(1000 + step).intArray(batch, 0, vocab);
  const rows = Array.from(starts, (start) => {
    const row = [start];
    while (row.length < length + 1) row.push((5 * row[row.length - 1] + 3) % vocab);
    return row;
  });
  const cut = (from: number) =>
    tensor(
      rows.flatMap((r) => r.slice(from, from + length)),
      [batch, length],
      { dtype: "int32" },
    );
  return { ids: cut(0), targets: cut(1) };
}

async function train(computeDType: "float32" | "bfloat16"): Promise<number[]> {
  const model = new LanguageModel({ ...preset(plan, "tiny", { seed: 1 }), computeDType });
  const params = model.parameters();
  const optimizer = new AdamW(params, { lr: 3e-3 });
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const { ids, targets } = batchOf(step, model.config.vocabSize);
    const { value, grads } = valueAndGrad(() => model.loss(ids, targets))(params);
    losses.push((await value.data())[0]);
    optimizer.step(grads as Record<string, Tensor>);
    dispose([ids, targets, value, grads]);
  }
  const cache = model.createCache(1);
  console.log(`${computeDType}: one decoding cache holds ${model.cacheBytes(cache)} bytes`);
  model.disposeCache(cache);
  model.dispose();
  return losses;
}

const wide = await train("float32");
const mixed = await train("bfloat16");
const every = Math.max(1, Math.floor(steps / 6));
console.log("step  float32   bfloat16");
for (let s = 0; s < steps; s += every) {
  console.log(`${String(s).padStart(4)}  ${wide[s].toFixed(4)}    ${mixed[s].toFixed(4)}`);
}
const last = (xs: number[]) => xs.slice(-5).reduce((a, b) => a + b, 0) / Math.min(5, xs.length);
console.log(
  `mean of the last 5 losses: float32 ${last(wide).toFixed(4)}, bfloat16 ${last(mixed).toFixed(4)}`,
);
if (!(last(mixed) < 0.5 * mixed[0]) || last(mixed) > 1.1 * last(wide)) {
  console.error("bfloat16 training did not follow float32 training");
  process.exit(1);
}
