/**
 * The source of a pool worker, as a string so that it runs unchanged as a Node worker_threads
 * worker (`eval: true`, CommonJS) and as a browser Web Worker (from a Blob URL), with no file to
 * locate or bundle. A worker instantiates the kernels module on the shared memory, says "ready",
 * then waits on the control block's generation counter; on a new generation it counts itself in,
 * joins the task only if the task is still open for that generation, takes chunks from the shared
 * counter until none are left, and counts itself out (the last one out wakes the caller).
 * Control block (int32 slots): 0 generation, 1 task (−1: quit), 2 arguments pointer, 3 total,
 * 4 grain, 5 next chunk, 6 workers in the task, 7 error flag, 8 the generation open for joining.
 */
export const WORKER_SOURCE = `"use strict";
function start(data, post) {
  const instance = new WebAssembly.Instance(data.module, { env: { memory: data.memory } });
  const fns = data.tasks.map((name) => instance.exports[name]);
  const ctl = new Int32Array(data.memory.buffer, 0, 16);
  const tid = data.tid;
  post("ready");
  let gen = 0;
  for (;;) {
    Atomics.wait(ctl, 0, gen);
    gen = Atomics.load(ctl, 0);
    if (Atomics.load(ctl, 1) < 0) return;
    Atomics.add(ctl, 6, 1);
    try {
      if (Atomics.load(ctl, 8) !== gen) continue;
      const fn = fns[ctl[1]];
      const args = ctl[2];
      const total = ctl[3];
      const grain = ctl[4];
      for (let c = Atomics.add(ctl, 5, 1) * grain; c < total; c = Atomics.add(ctl, 5, 1) * grain) {
        fn(args, c, Math.min(total, c + grain), tid);
      }
    } catch (err) {
      Atomics.store(ctl, 7, 1);
      post(String((err && err.stack) || err));
    } finally {
      if (Atomics.sub(ctl, 6, 1) === 1) Atomics.notify(ctl, 6);
    }
  }
}
if (typeof require === "function") {
  const { parentPort } = require("node:worker_threads");
  parentPort.once("message", (data) => start(data, (m) => parentPort.postMessage(m)));
} else {
  self.onmessage = (e) => start(e.data, (m) => self.postMessage(m));
}
`;
