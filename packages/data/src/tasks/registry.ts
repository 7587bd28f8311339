/** `createTask`: a task by name, for configs and command lines. */
import { fuzzyMqar } from "./fuzzy-mqar.js";
import { inductionHeads } from "./induction-heads.js";
import { mqar } from "./mqar.js";
import { noisyMqar } from "./noisy-mqar.js";
import { describe } from "./options.js";
import { selectiveCopy } from "./selective-copy.js";
import { type SyntheticTask, TASK_NAMES, type TaskName } from "./types.js";

const FACTORIES: Readonly<Record<TaskName, (options: object) => SyntheticTask>> = {
  mqar,
  "noisy-mqar": noisyMqar,
  "fuzzy-mqar": fuzzyMqar,
  "selective-copy": selectiveCopy,
  "induction-heads": inductionHeads,
};

/**
 * The task `name` with `options` (defaults for what is left out). An unknown name, an unknown
 * option or a bad value throws an error naming it (and listing the accepted names or options).
 */
export function createTask(name: TaskName, options: Record<string, unknown> = {}): SyntheticTask {
  if (typeof name !== "string" || !Object.hasOwn(FACTORIES, name)) {
    throw new RangeError(
      `createTask: unknown task ${describe(name)}; accepted tasks: ${TASK_NAMES.join(", ")}.`,
    );
  }
  return FACTORIES[name](options);
}
