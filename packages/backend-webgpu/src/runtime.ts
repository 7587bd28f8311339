/**
 * The WebGPU runtime under the kernels: buffers over a size-class pool, compute dispatches batched
 * into one command encoder (flushed before every queue write and read, so everything runs in
 * program order), pipelines compiled once per kernel variant, uniforms, and scratch buffers.
 *
 * Kernel authors use `dispatch`: binding 0 is the uniform block (when `uniforms` is given), the
 * storage buffers follow from binding 1 in the order given. Every declared binding must be used
 * by the shader (pipelines use layout "auto").
 */
import type { BufferId } from "@bmojo/tensor";

const STORAGE_USAGE = 0x80 | 0x4 | 0x8; // STORAGE | COPY_SRC | COPY_DST
const UNIFORM_USAGE = 0x40 | 0x8; // UNIFORM | COPY_DST
const MAP_READ_USAGE = 0x1 | 0x8; // MAP_READ | COPY_DST
const MAP_READ_MODE = 0x1;

interface Entry {
  buffer: GPUBuffer;
  bytes: number;
  /** A host copy of int32 data written by `write`, for index checks; dropped when a kernel writes the buffer. */
  shadow?: Int32Array;
}

/** A compute dispatch. */
export interface Dispatch {
  /** Pipeline cache key: the kernel and every compile-time choice of its WGSL. */
  key: string;
  /** The WGSL source; called once per key. */
  code: () => string;
  /** Storage buffers at bindings 1, 2, … */
  buffers: readonly GPUBuffer[];
  /** The uniform block at binding 0 (16-byte multiple), or none. */
  uniforms?: ArrayBuffer;
  /** Workgroup counts. */
  workgroups: readonly [number, number?, number?];
}

function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  const step = 1 << 21;
  return Math.ceil(b / step) * step;
}

export class Runtime {
  readonly device: GPUDevice;
  /** Whether the adapter is a software (CPU) implementation, for kernels that tune differently there. */
  readonly software: boolean;
  private readonly entries = new Map<BufferId, Entry>();
  private nextId = 1;
  private readonly pool = new Map<number, GPUBuffer[]>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private pendingDispatches = 0;
  /** Buffers to destroy once the work submitted with the current batch is done. */
  private garbage: GPUBuffer[] = [];
  private readonly errors: string[] = [];

  constructor(device: GPUDevice, software = false) {
    this.device = device;
    this.software = software;
    device.addEventListener("uncapturederror", (event) => {
      this.errors.push((event as GPUUncapturedErrorEvent).error.message);
    });
  }

  // ------------------------------------------------------------------------------------------
  // Buffers

  private take(bytes: number): GPUBuffer {
    const cls = sizeClass(bytes);
    const free = this.pool.get(cls);
    if (free !== undefined && free.length > 0) return free.pop() as GPUBuffer;
    return this.device.createBuffer({ size: cls, usage: STORAGE_USAGE });
  }

  private give(buffer: GPUBuffer): void {
    // Queue order makes reuse safe: a later user of the buffer is submitted after every earlier one.
    const list = this.pool.get(buffer.size) ?? [];
    list.push(buffer);
    this.pool.set(buffer.size, list);
  }

  alloc(bytes: number): BufferId {
    const id = this.nextId++;
    this.entries.set(id, { buffer: this.take(bytes), bytes });
    return id;
  }

  free(id: BufferId): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    this.give(entry.buffer);
  }

  numBuffers(): number {
    return this.entries.size;
  }

  private entry(id: BufferId): Entry {
    const entry = this.entries.get(id);
    if (entry === undefined) throw new Error(`webgpu backend: unknown or freed buffer id ${id}`);
    return entry;
  }

  /** The GPU buffer of a live buffer id. */
  buffer(id: BufferId): GPUBuffer {
    return this.entry(id).buffer;
  }

  /** Bytes asked for at alloc. */
  bytes(id: BufferId): number {
    return this.entry(id).bytes;
  }

  /** The host copy of int32 data last written from the host, if no kernel has written the buffer since. */
  hostInt32(id: BufferId): Int32Array | undefined {
    return this.entry(id).shadow;
  }

  /** Marks buffers a kernel writes (their host copies are no longer current). */
  written(...ids: (BufferId | null)[]): void {
    for (const id of ids) if (id !== null) this.entry(id).shadow = undefined;
  }

  write(id: BufferId, data: ArrayBufferView): void {
    const entry = this.entry(id);
    if (data.byteLength > entry.bytes) {
      throw new RangeError(
        `webgpu backend: ${data.byteLength} bytes do not fit buffer ${id} of ${entry.bytes} bytes`,
      );
    }
    this.flush(); // a queue write runs at once: earlier dispatches must be submitted first
    if (data.byteLength > 0) {
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      this.device.queue.writeBuffer(entry.buffer, 0, bytes as Uint8Array<ArrayBuffer>);
    }
    entry.shadow = data instanceof Int32Array ? Int32Array.from(data) : undefined;
  }

  async read(id: BufferId, bytes: number): Promise<ArrayBuffer> {
    const entry = this.entry(id);
    if (bytes > entry.bytes)
      throw new RangeError(
        `webgpu backend: read of ${bytes} bytes from a ${entry.bytes}-byte buffer`,
      );
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const staging = this.device.createBuffer({ size, usage: MAP_READ_USAGE });
    const encoder = this.commandEncoder();
    encoder.copyBufferToBuffer(entry.buffer, 0, staging, 0, Math.min(size, entry.buffer.size));
    this.flush();
    await staging.mapAsync(MAP_READ_MODE);
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    staging.destroy();
    this.throwErrors();
    return out;
  }

  /**
   * Several buffers' first bytes through one staging buffer and one map: each part at a multiple
   * of 16 bytes (copies need 4-byte sizes; 16 keeps every part aligned for any typed view).
   */
  async readMany(parts: readonly { id: BufferId; bytes: number }[]): Promise<ArrayBuffer[]> {
    const spans = parts.map(({ id, bytes }) => {
      const entry = this.entry(id);
      if (bytes > entry.bytes) {
        throw new RangeError(
          `webgpu backend: read of ${bytes} bytes from a ${entry.bytes}-byte buffer`,
        );
      }
      return { entry, bytes, padded: Math.max(16, Math.ceil(bytes / 16) * 16) };
    });
    const size = spans.reduce((acc, s) => acc + s.padded, 0);
    const staging = this.device.createBuffer({ size, usage: MAP_READ_USAGE });
    const encoder = this.commandEncoder();
    let at = 0;
    const offsets = spans.map(({ entry, padded }) => {
      encoder.copyBufferToBuffer(entry.buffer, 0, staging, at, Math.min(padded, entry.buffer.size));
      at += padded;
      return at - padded;
    });
    this.flush();
    await staging.mapAsync(MAP_READ_MODE);
    const mapped = staging.getMappedRange(0, size);
    const out = spans.map((s, i) => mapped.slice(offsets[i], offsets[i] + s.bytes));
    staging.unmap();
    staging.destroy();
    this.throwErrors();
    return out;
  }

  /** A temporary storage buffer, valid for the dispatches issued before the next flush. */
  scratch(bytes: number): GPUBuffer {
    const buffer = this.take(bytes);
    this.garbageToPool.push(buffer);
    return buffer;
  }
  private garbageToPool: GPUBuffer[] = [];

  // ------------------------------------------------------------------------------------------
  // Dispatch

  private commandEncoder(): GPUCommandEncoder {
    if (this.encoder === null) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private pipeline(key: string, code: () => string): GPUComputePipeline {
    let pipeline = this.pipelines.get(key);
    if (pipeline === undefined) {
      const module = this.device.createShaderModule({ code: code(), label: key });
      pipeline = this.device.createComputePipeline({
        layout: "auto",
        compute: { module, entryPoint: "main" },
        label: key,
      });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  dispatch(d: Dispatch): void {
    const [x, y = 1, z = 1] = d.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) {
      throw new RangeError(
        `webgpu backend: ${d.key}: ${x}×${y}×${z} workgroups exceed the adapter's ${max} per dimension`,
      );
    }
    const pipeline = this.pipeline(d.key, d.code);
    const entries: GPUBindGroupEntry[] = [];
    if (d.uniforms !== undefined) {
      const size = Math.max(16, Math.ceil(d.uniforms.byteLength / 16) * 16);
      const ub = this.device.createBuffer({ size, usage: UNIFORM_USAGE, mappedAtCreation: true });
      new Uint8Array(ub.getMappedRange()).set(new Uint8Array(d.uniforms));
      ub.unmap();
      this.garbage.push(ub);
      entries.push({ binding: 0, resource: { buffer: ub } });
    }
    d.buffers.forEach((buffer, i) => {
      entries.push({ binding: i + 1, resource: { buffer } });
    });
    const bindGroup = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries,
    });
    const pass = this.commandEncoder().beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    if (++this.pendingDispatches >= 64) this.flush();
  }

  /** Submits the batched dispatches. */
  flush(): void {
    if (this.encoder !== null) {
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
      this.pendingDispatches = 0;
    }
    if (this.garbage.length > 0 || this.garbageToPool.length > 0) {
      const destroy = this.garbage;
      const reuse = this.garbageToPool;
      this.garbage = [];
      this.garbageToPool = [];
      // Pooled scratch can be reused in queue order at once; uniform buffers are destroyed when done.
      for (const b of reuse) this.give(b);
      this.device.queue.onSubmittedWorkDone().then(() => {
        for (const b of destroy) b.destroy();
      });
    }
  }

  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwErrors();
  }

  private throwErrors(): void {
    if (this.errors.length > 0) {
      const first = this.errors.splice(0, this.errors.length);
      throw new Error(`webgpu backend: the device reported: ${first.join("; ")}`);
    }
  }

  dispose(): void {
    this.flush();
    for (const e of this.entries.values()) e.buffer.destroy();
    this.entries.clear();
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    this.pool.clear();
    this.pipelines.clear();
    this.device.destroy();
  }
}

/** Workgroups for `n` threads of `size` per group, folded into 2-D when past the per-dimension limit. */
export function workgroups1d(n: number, size: number, maxPerDim = 65535): [number, number] {
  const groups = Math.ceil(n / size);
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}

/** Packs numbers into a uniform block: `u32`/`i32`/`f32` fields in order, padded to 16 bytes. */
export class Uniforms {
  private readonly view: DataView;
  private readonly data: ArrayBuffer;
  private offset = 0;
  constructor(fields: number) {
    this.data = new ArrayBuffer(Math.max(16, Math.ceil((fields * 4) / 16) * 16));
    this.view = new DataView(this.data);
  }
  u32(v: number): this {
    this.view.setUint32(this.offset, v >>> 0, true);
    this.offset += 4;
    return this;
  }
  i32(v: number): this {
    this.view.setInt32(this.offset, v | 0, true);
    this.offset += 4;
    return this;
  }
  f32(v: number): this {
    this.view.setFloat32(this.offset, v, true);
    this.offset += 4;
    return this;
  }
  buffer(): ArrayBuffer {
    return this.data;
  }
}
