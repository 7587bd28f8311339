#!/usr/bin/env node
/**
 * Plain-node conformance runner (no vitest needed, e.g. on a GPU machine):
 *   bmojo-conformance [--backend NAME] [--filter TEXT] [--import MODULE]... [--verbose]
 * --import loads a module first (a backend package that calls registerBackend). Prints each
 * failure and closes with "N passed, M failed, K skipped"; exits 1 if any case failed.
 */
import { backendByName, registeredBackends } from "../registry.js";
import "../index.js";
import { printConformance } from "./runner.js";

interface CliOptions {
  backend: string;
  filter?: string;
  imports: string[];
  verbose: boolean;
}

function parseArgs(argv: readonly string[]): CliOptions {
  const options: CliOptions = { backend: "cpu", imports: [], verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === "--backend") options.backend = value();
    else if (flag === "--filter") options.filter = value();
    else if (flag === "--import") options.imports.push(value());
    else if (flag === "--verbose") options.verbose = true;
    else if (flag === "--help" || flag === "-h") {
      console.log(
        "usage: bmojo-conformance [--backend NAME] [--filter TEXT] [--import MODULE]... [--verbose]",
      );
      process.exit(0);
    } else {
      throw new Error(
        `unknown flag ${flag}; accepted: --backend, --filter, --import, --verbose, --help`,
      );
    }
  }
  return options;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  for (const m of options.imports) await import(m);
  let backend: Awaited<ReturnType<typeof backendByName>>;
  try {
    backend = await backendByName(options.backend);
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}`);
    console.error(`registered backends: ${registeredBackends().join(", ")}`);
    process.exit(2);
  }
  await printConformance(
    backend,
    `conformance suite on backend '${backend.name}'${options.filter ? ` (filter: ${options.filter})` : ""}`,
    { filter: options.filter, skips: true, verbose: options.verbose },
  );
}

main().catch((err) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(2);
});
