/** One timed training step of a small B'MOJO (8×128 tokens, forward, backward, AdamW) on a backend. */
import { LanguageModel, preset } from "@bmojo/model";
import { AdamW } from "@bmojo/nn";
import {
  type Backend,
  type Random,
  type Tensor,
  dispose,
  tensor,
  valueAndGrad,
} from "@bmojo/tensor";

/** Milliseconds per step: the mean of 3 steps after a warm-up step, each ending in a read of the loss. */
export async function trainStep(backend: Backend, rng: Random): Promise<number> {
  const model = new LanguageModel(preset("bmojo", "small", { seed: 1 }), { backend });
  const params = Object.fromEntries(model.namedParameters()) as Record<string, Tensor>;
  const optimizer = new AdamW(params, { lr: 1e-3 });
  const ids = tensor(rng.intArray(8 * 128, 0, 256), [8, 128], { dtype: "int32", backend });
  const targets = tensor(rng.intArray(8 * 128, 0, 256), [8, 128], { dtype: "int32", backend });
  const step = async () => {
    const { value, grads } = valueAndGrad(() => model.loss(ids, targets))(params);
    optimizer.step(grads as Record<string, Tensor>);
    await value.data();
    dispose([value, grads]);
  };
  await step();
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) await step();
  const ms = (performance.now() - t0) / 3;
  dispose([ids, targets]);
  model.dispose();
  return ms;
}
