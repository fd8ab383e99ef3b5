// Device memory of one rank for one policy's Plan: model weights (per local expert slot),
// tokens, outputs, the row maps of every chunk, the experts' activations and gradients in
// layer-wide expert-major buffers (token_layout.hpp's layer order: every chunk's rows of an
// expert in one range, so the weight gradient is one GEMM per expert), and the communication
// staging buffers, double-buffered (chunk c uses slot c % 2).
#pragma once

#include <cuda_bf16.h>

#include <array>
#include <cstdint>
#include <vector>

#include "device_buffer.hpp"
#include "layer_data.hpp"
#include "token_layout.hpp"

namespace comet {

using bf16 = __nv_bfloat16;

struct ChunkBuffers {
  DeviceBuffer<std::int32_t> send_rows, combine_positions, expert_rows, layer_rows, source_layer_rows;
  DeviceBuffer<float> send_weights;
};

struct StagingSlot {
  DeviceBuffer<bf16> send, recv, combine_send, combine_recv;
};

class LayerBuffers {
 public:
  /// Allocates and fills everything for `rank` (synchronously; throws GpuOutOfMemory naming the buffer).
  LayerBuffers(const TokenLayout& layout, int rank, const LayerDims& dims, const DataSeeds& seeds, std::int64_t stand_in_cols);

  /// Zeroes the accumulated outputs and poisons (NaN) every buffer an op must write before another reads.
  void reset_and_poison(cudaStream_t stream) const;
  /// The weight gradients of the first local expert (dw13 then dw2), in fp32: what the numerics
  /// compare between policies (all experts' would be gigabytes at DeepSeek-V3 sizes).
  std::vector<float> first_expert_weight_gradients() const;

  std::int64_t tokens;
  std::vector<const bf16*> w13_ptr, w2_ptr;
  std::vector<bf16*> d_w13_ptr, d_w2_ptr;
  DeviceBuffer<bf16> w13, w2, d_w13, d_w2, gate_w, stand_in_w;
  DeviceBuffer<bf16> x, d_out, logits, stand_in_out;
  DeviceBuffer<float> gate_weights, out, dx;
  // Layer-wide expert-major rows (all chunks): inputs, gate+up and SwiGLU outputs (kept for the
  // backward), expert outputs (forward) and input gradients (backward), output gradients and the
  // SwiGLU gradients (kept for the weight gradient).
  DeviceBuffer<bf16> x_experts, h13, act, y, dy, d_act, d_h13;
  std::vector<ChunkBuffers> chunks;
  std::array<StagingSlot, 2> staging;
};

}  // namespace comet
