/** matmul's marshaller: cuBLAS strided-batched GEMM or the skinny kernel (native/matmul.cu). */
import type { MatmulArgs } from "@bmojo/tensor";
import type { MatmulPrecision } from "../backend.js";
import type { Marshaller } from "./writer.js";

/** bmojo::MatmulPrecision in native/matmul.cu. */
const PRECISION_CODES: Record<MatmulPrecision, number> = { float32: 0, tf32: 1, bf16: 2 };

/**
 * `precision`: "tf32" lets float32 products use TF32 tensor cores (10-bit mantissa inputs);
 * "bf16" rounds the inputs to bfloat16 (8-bit mantissa); both accumulate in float32.
 */
export function matmulMarshaller(precision: MatmulPrecision): Marshaller<MatmulArgs> {
  const code = PRECISION_CODES[precision];
  return (args, w) => {
    w.dtype(args.dtype).buf(args.a).buf(args.b).buf(args.out);
    w.num(args.batch).num(args.m).num(args.n).num(args.k);
    w.flag(args.transA).flag(args.transB).num(args.aBatchStride).num(args.bBatchStride);
    w.num(code);
  };
}
