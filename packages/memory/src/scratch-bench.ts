import { InnovationTracker } from "./index.js";
const tr = new InnovationTracker(1, 768, 4, "float32");
const buf = new ArrayBuffer(8 * 768 * 4 + 64);
const ys = Array.from({ length: 8 }, (_, i) => {
  const y = new Float32Array(buf, i * 768 * 4, 768);
  for (let j = 0; j < 768; j++) y[j] = Math.sin(i + j);
  return y;
});
for (let rep = 0; rep < 5; rep++) {
  const t0 = performance.now();
  for (let s = 0; s < 2000; s++) tr.score(ys[s % 8]);
  console.log(((performance.now() - t0) / 2000 * 1000).toFixed(2), "µs per score");
}
