/**
 * Child process of the matmul benchmark: holds one system (see matmul-systems.ts) and runs it
 * when asked. Started by src/matmul.ts through IsolatedProcess; not meant to be run by hand.
 */
import { timeRun } from "./harness.js";
import { serveRequests } from "./isolate.js";
import {
  type MatmulContender,
  type MatmulSystemName,
  createMatmulContender,
} from "./matmul-systems.js";

export type MatmulRequest =
  | { type: "setup"; system: MatmulSystemName; n: number; a: Float32Array; b: Float32Array }
  | { type: "run" }
  | { type: "output" };

export interface MatmulReplies {
  /** The system's one-line description. */
  setup: string;
  /** Milliseconds of one run (preparation excluded). */
  run: number;
  /** The output of the last run. */
  output: Float32Array;
}

let contender: MatmulContender | null = null;

function current(): MatmulContender {
  if (contender === null) throw new Error("matmul worker: run before setup");
  return contender;
}

serveRequests<MatmulRequest, MatmulReplies>(async (request) => {
  switch (request.type) {
    case "setup":
      if (contender !== null) throw new Error("matmul worker: setup twice");
      contender = await createMatmulContender(request.system, request.n, request.a, request.b);
      return contender.system.description;
    case "run":
      return timeRun(current().system);
    case "output":
      return current().output();
  }
});
