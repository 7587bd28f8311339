/**
 * Decodes with a compiled step: a B'MOJO (random weights) prefills a prompt, then decodes greedily
 * once with `model.step` per token and once by replaying one captured step
 * (`LanguageModel.compileStep`), and prints both speeds and how far the replayed logits are from the
 * stepped ones. Exits non-zero if they differ by more than float rounding allows.
 *
 *   node apps/examples/dist/compiled-decode.js [--plan bmojo] [--size small] [--tokens 64]
 */
import { LanguageModel, type PlanName, type PresetSize, preset } from "@bmojo/model";
import { tensor } from "@bmojo/tensor";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : (process.argv[i + 1] ?? fallback);
}
const plan = flag("--plan", "bmojo") as PlanName;
const size = flag("--size", "small") as PresetSize;
const tokens = Number(flag("--tokens", "64"));
if (!Number.isInteger(tokens) || tokens < 1) {
  throw new Error(`--tokens must be a positive integer, got ${flag("--tokens", "")}`);
}

const model = new LanguageModel(preset(plan, size, { seed: 1 }));
const vocab = model.config.vocabSize;
const prompt = Array.from({ length: 64 }, (_, i) => (i * 7919) % vocab);
const argmax = (v: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
};

/** A fresh cache holding the prompt, and the first greedy token. */
async function prefilled() {
  const cache = model.createCache(1);
  const logits = await model.prefill(model.idsTensor(prompt), cache);
  const last = (await logits.data()).subarray((prompt.length - 1) * vocab);
  logits.dispose();
  return { cache, first: argmax(last) };
}

// Stepped: one `step` per token, the argmax fed back on the host.
const stepped = await prefilled();
const chain = [stepped.first];
const steppedLogits: Float32Array[] = [];
let start = performance.now();
for (let t = 0; t < tokens; t++) {
  const ids = tensor(Int32Array.of(chain[t]), [1], { dtype: "int32" });
  const out = await model.step(ids, stepped.cache);
  const values = (await out.data()) as Float32Array;
  for (const x of [ids, out]) x.dispose();
  steppedLogits.push(values);
  chain.push(argmax(values));
}
const steppedMs = performance.now() - start;

// Replayed: the same tokens through the compiled step, its logits compared with the stepped ones.
const replayed = await prefilled();
const compiled = await model.compileStep(replayed.cache, { feedback: "argmax" });
let worst = 0;
start = performance.now();
for (let t = 0; t < tokens; t++) {
  const values = await (await compiled.run([chain[t]])).data();
  for (let i = 0; i < vocab; i++) {
    worst = Math.max(worst, Math.abs(values[i] - steppedLogits[t][i]));
  }
}
const replayedMs = performance.now() - start;

// Greedy replays: each step's argmax fed to the next on the device, nothing read until the end.
start = performance.now();
for (let t = 0; t < tokens; t++) await compiled.replayGreedy();
await compiled.tokens.data();
const greedyMs = performance.now() - start;
await model.settle(replayed.cache);

const rate = (ms: number) => `${((tokens * 1000) / ms).toFixed(0)} tokens/s`;
console.log(
  `${plan} ${size} on ${model.embedding.weight.backend.name}, ${tokens} tokens after 64:`,
);
console.log(`  stepped                 ${rate(steppedMs)}`);
console.log(`  replayed, logits read   ${rate(replayedMs)} (${compiled.size} kernels per step)`);
console.log(`  replayed, greedy        ${rate(greedyMs)}`);
console.log(`  largest logit difference, replayed vs stepped: ${worst.toExponential(2)}`);
compiled.dispose();
model.disposeCache(stepped.cache);
model.disposeCache(replayed.cache);
model.dispose();
if (!(worst < 1e-4)) {
  console.error("the replayed logits are further from the stepped ones than rounding allows");
  process.exitCode = 1;
}
