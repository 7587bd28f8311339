#!/usr/bin/env node
/**
 * Builds the addon build/bmojo_cuda.node from native/*.cu with nvcc (no node-gyp, no npm needed,
 * so it runs on a GPU machine that only has Node and a CUDA toolkit).
 *
 *   node scripts/build-native.mjs [--if-toolkit] [--arch LIST] [--debug]
 *
 * --if-toolkit (the package's install script): when nvcc, cuBLAS or Node's headers are missing,
 * say so and exit 0, so `pnpm install` succeeds on machines without CUDA.
 * --arch: nvcc -gencode targets, e.g. "90" or "80,90" (default: the visible GPU's, else 80,90).
 * Environment: CUDA_HOME (toolkit root), NODE_INCLUDE (the folder holding node_api.h).
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const ifToolkit = argv.includes("--if-toolkit");
const debug = argv.includes("--debug");
const archIndex = argv.indexOf("--arch");
const archFlag = archIndex >= 0 ? argv[archIndex + 1] : undefined;
for (const [i, a] of argv.entries()) {
  if (a.startsWith("--") && !["--if-toolkit", "--debug", "--arch"].includes(a)) {
    console.error(`build-native: unknown flag ${a}; accepted: --if-toolkit, --arch LIST, --debug`);
    process.exit(2);
  }
  if (a === "--arch" && (argv[i + 1] === undefined || !/^\d+(,\d+)*$/.test(argv[i + 1]))) {
    console.error(
      'build-native: --arch needs a list of compute capabilities such as "90" or "80,90"',
    );
    process.exit(2);
  }
}

function skip(reason) {
  const message = `@bmojo/backend-cuda: the native addon was not built: ${reason}`;
  if (ifToolkit) {
    console.log(
      `${message}\n  The package is installed; init({ backend: "cuda" }) will say CUDA is unavailable.`,
    );
    process.exit(0);
  }
  console.error(message);
  process.exit(1);
}

function findNvcc() {
  const candidates = [];
  if (process.env.CUDA_HOME) candidates.push(join(process.env.CUDA_HOME, "bin", "nvcc"));
  for (const dir of (process.env.PATH ?? "").split(":"))
    if (dir) candidates.push(join(dir, "nvcc"));
  candidates.push("/usr/local/cuda/bin/nvcc");
  return candidates.find((c) => existsSync(c)) ?? null;
}

function findNodeInclude() {
  const candidates = [
    process.env.NODE_INCLUDE,
    join(dirname(process.execPath), "..", "include", "node"),
    "/usr/include/node",
    "/usr/local/include/node",
  ].filter(Boolean);
  return candidates.find((c) => existsSync(join(c, "node_api.h"))) ?? null;
}

function visibleArch() {
  try {
    const out = execFileSync("nvidia-smi", ["--query-gpu=compute_cap", "--format=csv,noheader"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    const caps = [
      ...new Set(
        out
          .trim()
          .split("\n")
          .map((s) => s.trim().replace(".", "")),
      ),
    ];
    return caps.length > 0 && caps.every((c) => /^\d+$/.test(c)) ? caps : null;
  } catch {
    return null;
  }
}

const nvcc = findNvcc();
if (nvcc === null)
  skip("no CUDA toolkit found (nvcc is not on PATH, in $CUDA_HOME/bin or /usr/local/cuda/bin).");
const cudaRoot = dirname(dirname(nvcc));
const includeDirs = [
  join(cudaRoot, "include"),
  join(cudaRoot, "targets", "x86_64-linux", "include"),
];
if (!includeDirs.some((d) => existsSync(join(d, "cublas_v2.h")))) {
  skip(
    `the CUDA toolkit at ${cudaRoot} has no cuBLAS headers (cublas_v2.h); install its cuBLAS development package.`,
  );
}
const nodeInclude = findNodeInclude();
if (nodeInclude === null)
  skip(
    "Node's headers (node_api.h) were not found; set NODE_INCLUDE to the folder that holds them.",
  );

const archs = archFlag ? archFlag.split(",") : (visibleArch() ?? ["80", "90"]);
const gencode = archs.flatMap((a) => ["-gencode", `arch=compute_${a},code=sm_${a}`]);
const common = [
  "-std=c++17",
  "-Xcompiler",
  "-fPIC",
  "-I",
  nodeInclude,
  ...gencode,
  debug ? "-G" : "-O3",
  "-lineinfo",
];
const sources = readdirSync(join(root, "native"))
  .filter((f) => f.endsWith(".cu"))
  .sort();
const objDir = join(root, "build", "obj");
mkdirSync(objDir, { recursive: true });

function run(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(nvcc, args, { stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`nvcc ${args.join(" ")} exited with ${code}`)),
    );
  });
}

const started = Date.now();
console.log(
  `@bmojo/backend-cuda: building with ${nvcc} for sm_${archs.join(", sm_")} (${sources.length} files)`,
);
try {
  await Promise.all(
    sources.map((f) =>
      run([...common, "-c", join(root, "native", f), "-o", join(objDir, `${f}.o`)]),
    ),
  );
  const out = join(root, "build", "bmojo_cuda.node");
  const tmp = `${out}.tmp`;
  await run([
    ...gencode,
    "-shared",
    ...sources.map((f) => join(objDir, `${f}.o`)),
    "-lcublas",
    "-o",
    tmp,
  ]);
  renameSync(tmp, out); // a failed link leaves the previous addon in place
  rmSync(objDir, { recursive: true, force: true });
  console.log(
    `@bmojo/backend-cuda: built ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
} catch (err) {
  skip(err instanceof Error ? err.message : String(err));
}
