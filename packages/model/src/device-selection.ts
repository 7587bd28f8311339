/**
 * B'MOJO's eidetic selection computed on the device, for backends that cannot read synchronously
 * (WebGPU): the same rule as `selectEidetic` (per chunk c, the m_e positions s < c·w with the
 * largest ε, ties to the earlier position, NaN never chosen), as tensor operations only.
 *
 * s' beats s when ε_s' > ε_s, or ε_s' = ε_s and s' < s. For chunk c, the rank of s is the number
 * of positions s' < c·w that beat it (one matmul of the [L, L] beats matrix with the [L, chunks]
 * "before the chunk" matrix); s is chosen when s < c·w, ε_s is not NaN and its rank is below m_e,
 * and the rank is its slot. Slot order differs from the streaming store's, which the attention
 * over memory slots does not see (one softmax over their union).
 */
import {
  type Tensor,
  add,
  arange,
  broadcastTo,
  cast,
  equal,
  greater,
  less,
  matmul,
  mul,
  reshape,
  scatterAdd,
  slice,
  tensor,
  where,
  zeros,
} from "@bmojo/tensor";

export interface DeviceEideticLayout {
  /** int32 [B, chunks, m_e]: row of u in the stacked [y; u] rows (B·L + b·L + s), 0 when empty. */
  index: Tensor;
  /** int32 [B, chunks, m_e]: 1 where a token was chosen. */
  mask: Tensor;
  /**
   * int32 [B, chunks, m_e]: the chosen position s, 0 when empty; computed on call (only RoPE
   * needs it), within the same tidy scope as the layout.
   */
  positions(): Tensor;
}

/** scores: float [B, L] innovation scores (no gradient). Call inside a tidy scope. */
export function deviceEideticLayout(
  scores: Tensor,
  window: number,
  eidetic: number,
): DeviceEideticLayout {
  const [batch, length] = scores.shape;
  const backend = scores.backend;
  const chunks = Math.ceil(length / window);
  const slotsTotal = batch * chunks * eidetic;
  const eS = reshape(scores, [batch, length, 1]);
  const eP = reshape(scores, [batch, 1, length]);
  const position = arange(0, length, 1, { dtype: "int32", backend });
  const earlier = less(reshape(position, [1, 1, length]), reshape(position, [1, length, 1]));
  const beats = add(greater(eP, eS), mul(equal(eP, eS), earlier)); // int32 0/1 [B, L(s), L(s')]
  const pastInt = new Int32Array(length * chunks); // [L, chunks]: position s lies before chunk c
  for (let s = 0; s < length; s++) {
    for (let c = 0; c < chunks; c++) pastInt[s * chunks + c] = s < c * window ? 1 : 0;
  }
  const past = tensor(pastInt, [length, chunks], { backend });
  const rank = matmul(cast(beats, "float32"), cast(past, "float32")); // [B, L, chunks]
  const valid = reshape(equal(scores, scores), [batch, length, 1]); // not NaN
  const chosen = mul(mul(reshape(past, [1, length, chunks]), valid), less(rank, eidetic));
  // Flat slot of each chosen (b, s, c): (b·chunks + c)·m_e + rank; everything else goes to a trash slot.
  const base = new Float32Array(batch * chunks);
  for (let b = 0; b < batch; b++)
    for (let c = 0; c < chunks; c++) base[b * chunks + c] = (b * chunks + c) * eidetic;
  const slot = add(tensor(base, [batch, 1, chunks], { backend }), rank);
  const target = cast(where(chosen, slot, slotsTotal), "int32");
  const sPlusOne = add(cast(reshape(position, [1, length, 1]), "float32"), 1);
  const filled = scatterAdd(
    zeros([slotsTotal + 1], { backend }),
    reshape(target, [batch * length * chunks]),
    reshape(broadcastTo(sPlusOne, [batch, length, chunks]), [batch * length * chunks]),
  );
  const value = reshape(slice(filled, [0], [slotsTotal]), [batch, chunks, eidetic]); // s + 1, or 0
  const mask = greater(value, 0);
  const rowBase = new Float32Array(batch);
  for (let b = 0; b < batch; b++) rowBase[b] = batch * length + b * length - 1;
  const row = add(value, tensor(rowBase, [batch, 1, 1], { backend }));
  const index = cast(where(mask, row, 0), "int32");
  const positions = () => cast(where(mask, add(value, -1), 0), "int32");
  return { index, mask, positions };
}
