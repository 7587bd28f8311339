function v0(ring: Float32Array, acc: Float64Array, yt: Float32Array, b: number, dim: number, k: number, head: number, have: number, count: number): number {
  acc.fill(0);
  for (let j = 1; j <= have; j++) {
    const row = (b * k + ((head - j + k) % k)) * dim;
    for (let i = 0; i < dim; i++) acc[i] = Math.fround(acc[i] + ring[row + i]);
  }
  let sumSq = 0;
  const offset = b * dim;
  for (let i = 0; i < dim; i++) {
    const prediction = Math.fround(acc[i] / count);
    const diff = Math.fround(Math.fround(yt[offset + i]) - prediction);
    sumSq += Math.fround(diff * diff);
  }
  return Math.fround(Math.sqrt(Math.fround(sumSq)));
}
function v1(ring: Float32Array, acc: Float32Array, yt: Float32Array, b: number, dim: number, k: number, head: number, have: number, count: number): number {
  // acc in float32: every store rounds, as Math.fround did.
  if (have === 0) acc.fill(0);
  else {
    const first = (b * k + ((head - 1 + k) % k)) * dim;
    acc.set(ring.subarray(first, first + dim));
    for (let j = 2; j <= have; j++) {
      const row = (b * k + ((head - j + k) % k)) * dim;
      for (let i = 0; i < dim; i++) acc[i] += ring[row + i];
    }
  }
  let sumSq = 0;
  const offset = b * dim;
  const scratch = acc; // reuse: prediction then diff, each rounded by the store
  for (let i = 0; i < dim; i++) scratch[i] = yt[offset + i] - Math.fround(acc[i] / count);
  for (let i = 0; i < dim; i++) sumSq += Math.fround(scratch[i] * scratch[i]);
  return Math.fround(Math.sqrt(Math.fround(sumSq)));
}
const dim = 768, k = 4;
const ring = new Float32Array(k * dim).map((_, i) => Math.fround(Math.sin(i)));
const yt = new Float32Array(dim).map((_, i) => Math.fround(Math.cos(i)));
const a64 = new Float64Array(dim), a32 = new Float32Array(dim);
let x = 0, y = 0;
for (let rep = 0; rep < 5; rep++) {
  let t0 = performance.now();
  for (let s = 0; s < 4000; s++) x += v0(ring, a64, yt, 0, dim, k, s % k, 4, 4);
  const t1 = (performance.now() - t0) / 4000 * 1000;
  t0 = performance.now();
  for (let s = 0; s < 4000; s++) y += v1(ring, a32, yt, 0, dim, k, s % k, 4, 4);
  const t2 = (performance.now() - t0) / 4000 * 1000;
  console.log(t1.toFixed(2), t2.toFixed(2), x === y);
}
