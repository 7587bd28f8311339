/**
 * Autodiff demo: fit a two-layer network (tanh hidden layer) to y = sin(3x)·x on [-1, 1] with
 * AdamW, on the reference cpu backend, and print the loss falling.
 *
 *   node apps/examples/dist/fit-mlp.js [--steps 300] [--hidden 32] [--seed 0]
 */
import {
  Random,
  adamw,
  add,
  init,
  matmul,
  memory,
  mean,
  mul,
  sin,
  square,
  sub,
  tanh,
  tensor,
  tidy,
  valueAndGrad,
  zerosLike,
  type Tensor,
} from "@bmojo/tensor";

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`--${name} must be a non-negative number, got ${process.argv[i + 1]}`);
  }
  return value;
}

const steps = flag("steps", 300);
const hidden = flag("hidden", 32);
const seed = flag("seed", 0);

const report = await init({ backend: "auto" });
console.log(`backend: ${report.backend} (${report.reason})`);

const rng = new Random(seed);
const points = 256;
const x = tensor(
  Array.from({ length: points }, (_, i) => -1 + (2 * i) / (points - 1)),
  [points, 1],
);
const y = tidy(() => mul(sin(mul(x, 3)), x));

type Params = { w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor };
const params: Params = {
  w1: rng.normal([hidden, 1], { std: 1 }),
  b1: rng.normal([hidden], { std: 0.5 }),
  w2: rng.normal([1, hidden], { std: 1 / Math.sqrt(hidden) }),
  b2: tensor([0]),
};
const moments = Object.fromEntries(
  Object.entries(params).map(([k, p]) => [k, { m: zerosLike(p), v: zerosLike(p) }]),
);

const predict = (p: Params, input: Tensor): Tensor =>
  add(
    matmul(tanh(add(matmul(input, p.w1, { transposeB: true }), p.b1)), p.w2, { transposeB: true }),
    p.b2,
  );
const lossFn = valueAndGrad((p: Params) => mean(square(sub(predict(p, x), y))));

const started = performance.now();
let first = Number.NaN;
let last = Number.NaN;
for (let step = 1; step <= steps; step++) {
  tidy(() => {
    const { value, grads } = lossFn(params);
    last = value.item();
    if (step === 1) first = last;
    for (const name of Object.keys(params) as (keyof Params)[]) {
      adamw(params[name], grads[name], moments[name].m, moments[name].v, {
        lr: 0.02,
        weightDecay: 0,
        step,
      });
    }
    if (step === 1 || step % 50 === 0 || step === steps) {
      console.log(`step ${String(step).padStart(4)}  loss ${last.toFixed(6)}`);
    }
  });
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `loss ${first.toFixed(4)} -> ${last.toFixed(4)} in ${steps} steps (${seconds.toFixed(2)} s); ` +
    `live tensors ${memory().numTensors}, buffers ${memory().numBuffers}`,
);
if (!(last < first / 10)) {
  console.error("the loss did not fall tenfold; something is wrong");
  process.exitCode = 1;
}
