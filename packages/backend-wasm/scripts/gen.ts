/**
 * Regenerates src/generated/kernels.ts from src/wat/*.wat:
 *   pnpm --filter @bmojo/backend-wasm gen
 */
import { writeFileSync } from "node:fs";
import { GENERATED_FILE, assemble, generatedModule } from "./assemble.js";

const modules = await assemble();
writeFileSync(GENERATED_FILE, generatedModule(modules));
console.log(
  `wrote ${GENERATED_FILE}: ${modules.shared.length} bytes (shared), ${modules.unshared.length} bytes (unshared)`,
);
