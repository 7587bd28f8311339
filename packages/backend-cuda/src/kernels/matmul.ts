/** matmul's marshaller: cuBLAS strided-batched GEMM (native/matmul.cu). */
import type { MatmulArgs } from "@bmojo/tensor";
import type { Marshaller } from "./writer.js";

/** `tf32`: let float32 products use TF32 tensor cores (10-bit mantissa inputs, float32 accumulation). */
export function matmulMarshaller(tf32: boolean): Marshaller<MatmulArgs> {
  return (args, w) => {
    w.dtype(args.dtype).buf(args.a).buf(args.b).buf(args.out);
    w.num(args.batch).num(args.m).num(args.n).num(args.k);
    w.flag(args.transA).flag(args.transB).num(args.aBatchStride).num(args.bBatchStride);
    w.flag(tf32);
  };
}
