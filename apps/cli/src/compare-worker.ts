/**
 * The worker-thread entry of `bmojo compare` (its own tsup entry: dist/compare-worker.js). It
 * brings up the backend named in `workerData`, runs the one job there with `runCompareJob`, posts
 * each step's loss EMA and then the result (or the error) to the parent, and exits. A message
 * `{ type: "abort" }` from the parent stops training after the current step.
 */
import { parentPort, workerData } from "node:worker_threads";
import { initBackend } from "./backend.js";
import { runCompareJob } from "./compare-job.js";
import type { ParentMessage, WorkerData, WorkerReport } from "./compare-pool.js";
import { messageOf } from "./errors.js";

const port = parentPort;
if (port === null) throw new Error("compare-worker.js runs as a worker thread of `bmojo compare`.");
const post = (report: WorkerReport) => port.postMessage(report);

const { job, backend } = workerData as WorkerData;
const controller = new AbortController();
port.on("message", (m: ParentMessage) => {
  if (m.type === "abort") controller.abort();
});

try {
  await initBackend(backend);
  const result = await runCompareJob(job, {
    onStep: (step, lossEma) => post({ type: "step", step, lossEma }),
    onEvaluate: () => post({ type: "evaluate" }),
    signal: controller.signal,
  });
  post({ type: "done", result });
} catch (err) {
  post({ type: "error", message: messageOf(err) });
} finally {
  port.unref(); // nothing else to wait for: let the thread end (posted messages still arrive)
}
