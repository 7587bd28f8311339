/**
 * The worker-thread entry of the CLI's job pool (its own tsup entry: dist/worker.js). It brings
 * up the backend named in `workerData`, runs the one job there with `runHere` (a compare job or
 * a length job), posts the job's progress and then its result (or the error) to the parent, and
 * exits. A message `{ type: "abort" }` from the parent stops training after the current step.
 */
import { parentPort, workerData } from "node:worker_threads";
import { initBackend } from "./backend.js";
import { messageOf } from "./errors.js";
import { type ParentMessage, type WorkerData, type WorkerReport, runHere } from "./worker-pool.js";

const port = parentPort;
if (port === null) throw new Error("worker.js runs as a worker thread of the bmojo CLI.");
const post = (report: WorkerReport) => port.postMessage(report);

const data = workerData as WorkerData;
const controller = new AbortController();
port.on("message", (m: ParentMessage) => {
  if (m.type === "abort") controller.abort();
});

try {
  await initBackend(data.backend);
  const result = await runHere(data, {
    onStep: (step, lossEma) => post({ type: "step", step, lossEma }),
    onEvaluate: () => post({ type: "evaluate" }),
    onContext: (score) => post({ type: "context", score }),
    signal: controller.signal,
  });
  post({ type: "done", result });
} catch (err) {
  post({ type: "error", message: messageOf(err) });
} finally {
  port.unref(); // nothing else to wait for: let the thread end (posted messages still arrive)
}
