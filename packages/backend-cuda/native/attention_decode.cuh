// The forward attention's parameters, shared by the tiled kernel (attention.cu) and the
// split-key decode kernels (attention_decode.cu), and the decode entry.
#pragma once

namespace bmojo {

struct AttentionForwardParams {
  const float* q;
  const float* k;
  const float* v;
  const float* memK;
  const float* memV;
  const int* memMask;
  float* out;
  float* lse;
  int batch, heads, kvHeads, group, queryLength, keyLength, headDim, window, queryOffset;
  int hasMemory, chunks, slots, chunkSize;
  float scaleLog2;  // scale * log2(e): scores live in the log2 domain
};

/**
 * Runs the forward pass with the split-key decode kernels when the problem suits them (at most
 * kDecodeMaxQueries queries per head, float4 rows: `vec4`); returns false, launching nothing,
 * otherwise. `p.window` is already clamped to keyLength.
 */
bool attentionDecode(const AttentionForwardParams& p, bool vec4);

}  // namespace bmojo
