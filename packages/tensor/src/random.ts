/**
 * Seeded, counter-based random numbers generated on the host (Philox4x32-10), so the same seed
 * gives the same values on every backend and every platform.
 *
 * Value i of a stream with key (seed) comes from Philox block floor(i/4) at counter
 * (offset + floor(i/4), 0, 0, 0), word i mod 4: any slice of a stream can be regenerated
 * without the values before it.
 */
import type { Backend } from "./backend/backend.js";
import { type DType, type TypedArray, allocTyped, isFloat, roundBfloat16 } from "./dtype.js";
import { tensorFromHost } from "./ops/internal.js";
import { getBackend } from "./registry.js";
import { type Shape, assertValidShape, sizeOf } from "./shape.js";
import type { Tensor } from "./tensor.js";

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;

const M0_HI = PHILOX_M0 >>> 16;
const M0_LO = PHILOX_M0 & 0xffff;
const M1_HI = PHILOX_M1 >>> 16;
const M1_LO = PHILOX_M1 & 0xffff;

/**
 * Upper 32 bits of the 64-bit product of a multiplier (given as its 16-bit halves) and x: four
 * 16×16-bit partial products, every sum exact in a double. The lower 32 bits are Math.imul's.
 */
function mulhi(mHi: number, mLo: number, x: number): number {
  const xHi = x >>> 16;
  const xLo = x & 0xffff;
  const lh = mLo * xHi;
  const hl = mHi * xLo;
  const mid = ((mLo * xLo) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (mHi * xHi + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/**
 * Philox4x32-10 block for counter (c0, c1, c2, c3) and key (k0, k1), written into `out` (4 words).
 * Matches the Random123 reference (e.g. counter 0, key 0 → 6627e8d5 e169c58d bc57ac4c 9b00dbd8).
 */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array = new Uint32Array(4),
): Uint32Array {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  let key0 = k0 >>> 0;
  let key1 = k1 >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0_HI, M0_LO, x0);
    const lo0 = Math.imul(PHILOX_M0, x0) >>> 0;
    const hi1 = mulhi(M1_HI, M1_LO, x2);
    const lo1 = Math.imul(PHILOX_M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ key0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ key1) >>> 0;
    x3 = lo0;
    key0 = (key0 + PHILOX_W0) >>> 0;
    key1 = (key1 + PHILOX_W1) >>> 0;
  }
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
  return out;
}

/** `count` uint32 words of stream `seed` starting at word `start`. */
export function randomBits(seed: number, start: number, count: number): Uint32Array {
  assertSeed(seed);
  const words = new Uint32Array(count);
  const block = new Uint32Array(4);
  const k0 = seed >>> 0;
  const k1 = Math.floor(seed / 0x100000000) >>> 0;
  let i = 0;
  while (i < count) {
    const index = start + i;
    const counter = Math.floor(index / 4);
    philox4x32(counter >>> 0, Math.floor(counter / 0x100000000) >>> 0, 0, 0, k0, k1, block);
    for (let w = index % 4; w < 4 && i < count; w++) words[i++] = block[w];
  }
  return words;
}

function assertSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`random: seed must be a non-negative safe integer, got ${seed}.`);
  }
}

/** Uniform in [0, 1) with 24 bits (float32) from one word. */
const toUnit24 = (w: number): number => (w >>> 8) / 16777216;
/** Uniform in [0, 1) with 53 bits from two words. */
const toUnit53 = (hi: number, lo: number): number =>
  ((hi >>> 5) * 67108864 + (lo >>> 6)) / 9007199254740992;

export interface RandomOptions {
  dtype?: DType;
  backend?: Backend;
}

/**
 * A stream of random numbers for one seed. Each call consumes the next words of the stream, so a
 * program that makes the same calls in the same order gets the same tensors on any backend.
 */
export class Random {
  private position = 0;

  constructor(readonly seed: number) {
    assertSeed(seed);
  }

  /** Words consumed so far (the stream offset of the next call). */
  get offset(): number {
    return this.position;
  }

  private take(count: number): Uint32Array {
    const words = randomBits(this.seed, this.position, count);
    this.position += count;
    return words;
  }

  /** Uniform values in [low, high) (bfloat16: float32 draws rounded to bfloat16). */
  uniformArray(size: number, low = 0, high = 1, dtype: DType = "float32"): TypedArray {
    const wide = dtype === "float64";
    const words = this.take(wide ? 2 * size : size);
    const out = allocTyped(dtype, size);
    const span = high - low;
    for (let i = 0; i < size; i++) {
      const u = wide ? toUnit53(words[2 * i], words[2 * i + 1]) : toUnit24(words[i]);
      out[i] = low + span * u;
    }
    return roundedTo(dtype, out);
  }

  /** Normal values (Box–Muller over pairs of uniforms). */
  normalArray(size: number, mean = 0, std = 1, dtype: DType = "float32"): TypedArray {
    const pairs = Math.ceil(size / 2);
    const wide = dtype === "float64";
    const words = this.take(pairs * (wide ? 4 : 2));
    const out = allocTyped(dtype, size);
    for (let p = 0; p < pairs; p++) {
      const u1 = wide ? toUnit53(words[4 * p], words[4 * p + 1]) : toUnit24(words[2 * p]);
      const u2 = wide ? toUnit53(words[4 * p + 2], words[4 * p + 3]) : toUnit24(words[2 * p + 1]);
      const radius = Math.sqrt(-2 * Math.log(1 - u1));
      const angle = 2 * Math.PI * u2;
      out[2 * p] = mean + std * radius * Math.cos(angle);
      if (2 * p + 1 < size) out[2 * p + 1] = mean + std * radius * Math.sin(angle);
    }
    return roundedTo(dtype, out);
  }

  /** Integers uniform in [low, high) as int32. */
  intArray(size: number, low: number, high: number): Int32Array {
    if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
      throw new RangeError(`random.int: need integers low < high, got [${low}, ${high}).`);
    }
    const words = this.take(size);
    const out = new Int32Array(size);
    const span = high - low;
    for (let i = 0; i < size; i++) out[i] = low + Math.floor((words[i] / 4294967296) * span);
    return out;
  }

  uniform(shape: Shape, options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
    const dtype = floatDType("uniform", options.dtype);
    assertValidShape(shape, "random.uniform");
    const data = this.uniformArray(sizeOf(shape), options.low ?? 0, options.high ?? 1, dtype);
    return tensorFromHost(data, shape, dtype, options.backend ?? getBackend());
  }

  normal(shape: Shape, options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
    const dtype = floatDType("normal", options.dtype);
    assertValidShape(shape, "random.normal");
    const data = this.normalArray(sizeOf(shape), options.mean ?? 0, options.std ?? 1, dtype);
    return tensorFromHost(data, shape, dtype, options.backend ?? getBackend());
  }

  int(shape: Shape, low: number, high: number, options: { backend?: Backend } = {}): Tensor {
    assertValidShape(shape, "random.int");
    return tensorFromHost(
      this.intArray(sizeOf(shape), low, high),
      shape,
      "int32",
      options.backend ?? getBackend(),
    );
  }
}

function floatDType(op: string, dtype: DType | undefined): DType {
  const d = dtype ?? "float32";
  if (!isFloat(d))
    throw new TypeError(
      `random.${op}: dtype must be a float (float32, float64 or bfloat16), got ${d}; use random.int for integers.`,
    );
  return d;
}

/** `values` with each element rounded to bfloat16 when `dtype` is bfloat16 (in place). */
function roundedTo(dtype: DType, values: TypedArray): TypedArray {
  if (dtype === "bfloat16")
    for (let i = 0; i < values.length; i++) values[i] = roundBfloat16(values[i]);
  return values;
}

/** Uniform tensor from a fresh stream of `seed`. */
export function randomUniform(
  shape: Shape,
  seed: number,
  options: RandomOptions & { low?: number; high?: number } = {},
): Tensor {
  return new Random(seed).uniform(shape, options);
}

/** Normal tensor from a fresh stream of `seed`. */
export function randomNormal(
  shape: Shape,
  seed: number,
  options: RandomOptions & { mean?: number; std?: number } = {},
): Tensor {
  return new Random(seed).normal(shape, options);
}
