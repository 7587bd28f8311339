/**
 * What every `bmojo experiment` shares once its numbers are in: the machine it ran on, the
 * provenance lines of its Markdown file, and writing NAME-BACKEND.md / .json / .svg.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { join } from "node:path";
import { type CliIO, println } from "./io.js";

export interface MachineInfo {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
}

/** The machine a result was measured on. */
export function machineInfo(): MachineInfo {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? "unknown",
    cores: cpu.length,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** The Markdown lines that say how a result was made: command, date, machine, wall time. */
export function provenanceLines(p: {
  command: string;
  date: string;
  machine: MachineInfo;
  wallSeconds: number;
  /** Appended to the machine line, e.g. "2 worker threads". */
  machineNote?: string;
}): string[] {
  const { machine } = p;
  const note = p.machineNote === undefined ? "" : `; ${p.machineNote}`;
  return [
    `- command: \`${p.command}\``,
    `- date: ${p.date}`,
    `- machine: ${machine.cpu}, ${machine.cores} cores, ${machine.platform}, Node ${machine.node}${note}`,
    `- wall time: ${p.wallSeconds.toFixed(1)} s`,
  ];
}

/** Writes `${outDir}/${name}-${backend}.md, .json and .svg` and says so on stderr. */
export async function writeResults(
  io: CliIO,
  where: { outDir: string; name: string; backend: string },
  files: { md: string; json: unknown; svg: string },
  wallSeconds: number,
): Promise<void> {
  await mkdir(where.outDir, { recursive: true });
  const base = join(where.outDir, `${where.name}-${where.backend}`);
  await writeFile(`${base}.md`, files.md);
  await writeFile(`${base}.json`, `${JSON.stringify(files.json, null, 2)}\n`);
  await writeFile(`${base}.svg`, files.svg);
  println(io.stderr, `wrote ${base}.md, .json, .svg (${wallSeconds.toFixed(1)} s)`);
}
