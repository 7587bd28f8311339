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
const rows = new Int32Array(16);
function v2(ring: Float32Array, yt: Float32Array, b: number, dim: number, k: number, head: number, have: number, count: number): number {
  for (let j = 1; j <= have; j++) rows[j - 1] = (b * k + ((head - j + k) % k)) * dim;
  const offset = b * dim;
  let sumSq = 0;
  if (have === 4) {
    const r0 = rows[0], r1 = rows[1], r2 = rows[2], r3 = rows[3];
    for (let i = 0; i < dim; i++) {
      const a = Math.fround(Math.fround(Math.fround(ring[r0 + i] + ring[r1 + i]) + ring[r2 + i]) + ring[r3 + i]);
      const diff = Math.fround(Math.fround(yt[offset + i]) - Math.fround(a / count));
      sumSq += Math.fround(diff * diff);
    }
  } else {
    for (let i = 0; i < dim; i++) {
      let a = 0;
      for (let j = 0; j < have; j++) a = Math.fround(a + ring[rows[j] + i]);
      const diff = Math.fround(Math.fround(yt[offset + i]) - Math.fround(a / count));
      sumSq += Math.fround(diff * diff);
    }
  }
  return Math.fround(Math.sqrt(Math.fround(sumSq)));
}
function v3(ring: Float32Array, yt: Float32Array, b: number, dim: number, k: number, head: number, have: number, count: number): number {
  for (let j = 1; j <= have; j++) rows[j - 1] = (b * k + ((head - j + k) % k)) * dim;
  const offset = b * dim;
  let sumSq = 0;
  for (let i = 0; i < dim; i++) {
    let a = 0;
    for (let j = 0; j < have; j++) a = Math.fround(a + ring[rows[j] + i]);
    const diff = Math.fround(Math.fround(yt[offset + i]) - Math.fround(a / count));
    sumSq += Math.fround(diff * diff);
  }
  return Math.fround(Math.sqrt(Math.fround(sumSq)));
}
const dim = 768, k = 4;
const ring = new Float32Array(k * dim).map((_, i) => Math.fround(Math.sin(i) * 3));
const yt = new Float32Array(dim).map((_, i) => Math.fround(Math.cos(i)));
const a64 = new Float64Array(dim);
for (let rep = 0; rep < 5; rep++) {
  let x = 0, y = 0, z = 0;
  let t0 = performance.now();
  for (let s = 0; s < 4000; s++) x += v0(ring, a64, yt, 0, dim, k, s % k, 4, 4);
  const t1 = (performance.now() - t0) / 4000 * 1000;
  t0 = performance.now();
  for (let s = 0; s < 4000; s++) y += v2(ring, yt, 0, dim, k, s % k, 4, 4);
  const t2 = (performance.now() - t0) / 4000 * 1000;
  t0 = performance.now();
  for (let s = 0; s < 4000; s++) z += v3(ring, yt, 0, dim, k, s % k, 4, 4);
  const t3 = (performance.now() - t0) / 4000 * 1000;
  let same = true;
  for (let h = 0; h < 4; h++) for (let hv = 0; hv <= 4; hv++) { const c = Math.max(hv, 1); if (v0(ring, a64, yt, 0, dim, k, h, hv, c) !== v3(ring, yt, 0, dim, k, h, hv, c) || v0(ring, a64, yt, 0, dim, k, h, hv, c) !== v2(ring, yt, 0, dim, k, h, hv, c)) same = false; }
  console.log(t1.toFixed(2), t2.toFixed(2), t3.toFixed(2), x === y && y === z, same);
}
