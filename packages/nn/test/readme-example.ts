import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Random, type Tensor, crossEntropy, tensor, tidy, valueAndGrad } from "@bmojo/tensor";
import {
  AdamW,
  Linear,
  Module,
  RMSNorm,
  clipGradNorm,
  cosineSchedule,
  loadParametersInto,
  readCheckpoint,
  saveCheckpoint,
} from "../src/index.js";

interface Config {
  dim: number;
  classes: number;
}

/** RMSNorm then a linear head: parameters norm.weight, head.weight, head.bias. */
class Classifier extends Module {
  readonly norm: RMSNorm;
  readonly head: Linear;

  constructor(config: Config, rng: Random) {
    super();
    this.norm = this.registerModule("norm", new RMSNorm(config.dim));
    this.head = this.registerModule(
      "head",
      new Linear(config.dim, config.classes, { rng, bias: true }),
    );
  }

  forward(x: Tensor): Tensor {
    return this.head.forward(this.norm.forward(x));
  }
}

const config: Config = { dim: 8, classes: 4 };
const rng = new Random(0);
const model = new Classifier(config, rng);
const x = rng.normal([32, config.dim]);
const labels = tensor(Int32Array.from({ length: 32 }, (_, i) => i % config.classes));

const params = model.parameters(); // { "norm.weight", "head.weight", "head.bias" }
const opt = new AdamW(params, {
  lr: 0.05, // the default group
  groups: [
    { name: "no-decay", match: /norm|\.bias$/, weightDecay: 0 }, // first matching group wins
    { name: "head", match: /^head\./, lr: 0.02 },
  ],
});
const schedule = cosineSchedule({ warmupSteps: 5, totalSteps: 60, minRatio: 0.1 });
const lossAndGrads = valueAndGrad((_p: typeof params) => crossEntropy(model.forward(x), labels));

for (let step = 1; step <= 60; step++) {
  const loss = tidy(() => {
    const { value, grads } = lossAndGrads(params);
    const { grads: clipped } = clipGradNorm(grads, 1.0);
    opt.step(clipped, schedule(step)); // lr = group lr × schedule(step)
    return value.item();
  });
  if (step % 20 === 0) console.log(`step ${step}: loss ${loss.toFixed(4)}`);
}

// Save (atomically), then rebuild the model from the checkpoint's config and load the weights.
const dir = await mkdtemp(join(tmpdir(), "bmojo-example-"));
const path = join(dir, "classifier.safetensors");
await saveCheckpoint(path, model, config);
const checkpoint = await readCheckpoint(path);
const restored = new Classifier(checkpoint.config as Config, new Random(1));
loadParametersInto(restored, checkpoint.tensors); // throws, listing every mismatch, if any
const same = tidy(() => restored.forward(x).sub(model.forward(x)).abs().max().item() === 0);
console.log(`restored model gives identical logits: ${same}`);
opt.dispose();
await rm(dir, { recursive: true });
