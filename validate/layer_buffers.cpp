#include "layer_buffers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "random_fill.hpp"

namespace comet {

namespace {

void fill(DeviceBuffer<bf16>& buffer, std::int64_t offset, std::int64_t count, std::uint64_t seed, float scale) {
  check_cuda(kernels::random_fill_bf16(buffer.get() + offset, count, seed, scale, nullptr), "fill " + buffer.name());
}

}  // namespace

LayerBuffers::LayerBuffers(const TokenLayout& layout, int rank, const LayerDims& d, const DataSeeds& seeds,
                           std::int64_t stand_in_cols)
    : tokens(layout.tokens(rank).tokens) {
  const std::int64_t h = d.hidden, f = d.ffn;
  const std::vector<int>& slots = layout.slot_experts(rank);
  const auto num_slots = static_cast<std::int64_t>(slots.size());
  w13 = DeviceBuffer<bf16>("expert weights w13 (gate+up)", num_slots * h * 2 * f);
  w2 = DeviceBuffer<bf16>("expert weights w2 (down)", num_slots * f * h);
  d_w13 = DeviceBuffer<bf16>("expert weight gradients dw13", num_slots * h * 2 * f);
  d_w2 = DeviceBuffer<bf16>("expert weight gradients dw2", num_slots * f * h);
  for (std::int64_t s = 0; s < num_slots; ++s) {
    fill(w13, s * h * 2 * f, h * 2 * f, seeds.w13(slots[s]), DataSeeds::w13_scale(d));
    fill(w2, s * f * h, f * h, seeds.w2(slots[s]), DataSeeds::w2_scale(d));
    w13_ptr.push_back(w13.get() + s * h * 2 * f);
    w2_ptr.push_back(w2.get() + s * f * h);
    d_w13_ptr.push_back(d_w13.get() + s * h * 2 * f);
    d_w2_ptr.push_back(d_w2.get() + s * f * h);
  }
  gate_w = DeviceBuffer<bf16>("router weights", h * d.experts);
  fill(gate_w, 0, h * d.experts, seeds.base + 99, DataSeeds::w13_scale(d));
  stand_in_w = DeviceBuffer<bf16>("non-MoE stand-in weights", h * stand_in_cols);
  fill(stand_in_w, 0, h * stand_in_cols, seeds.base + 98, DataSeeds::w13_scale(d));
  x = DeviceBuffer<bf16>("input tokens", tokens * h);
  fill(x, 0, tokens * h, seeds.tokens(rank), 1.0f);
  d_out = DeviceBuffer<bf16>("output gradient", tokens * h);
  fill(d_out, 0, tokens * h, seeds.output_grad(rank), 1.0f);
  logits = DeviceBuffer<bf16>("router logits", tokens * d.experts);
  stand_in_out = DeviceBuffer<bf16>("non-MoE stand-in output", tokens * stand_in_cols);
  gate_weights = DeviceBuffer<float>("gate weights", layout.tokens(rank).weights);
  out = DeviceBuffer<float>("layer output (fp32)", tokens * h);
  dx = DeviceBuffer<float>("input gradient (fp32)", tokens * h);

  std::int64_t max_sent = 0, max_received = 0;
  for (int c = 0; c < layout.num_chunks(); ++c) {
    const ChunkLayout& l = layout.chunk(c, rank);
    max_sent = std::max(max_sent, l.rows_sent());
    max_received = std::max(max_received, l.rows_received());
    ChunkBuffers b;
    b.send_rows = DeviceBuffer<std::int32_t>(fmt::format("chunk {} send rows", c), l.send_rows);
    b.send_weights = DeviceBuffer<float>(fmt::format("chunk {} send weights", c), l.send_weights);
    b.combine_positions = DeviceBuffer<std::int32_t>(fmt::format("chunk {} combine positions", c), l.combine_positions);
    b.expert_rows = DeviceBuffer<std::int32_t>(fmt::format("chunk {} expert rows", c), l.expert_rows);
    b.layer_rows = DeviceBuffer<std::int32_t>(fmt::format("chunk {} layer rows", c), l.layer_rows);
    b.source_layer_rows = DeviceBuffer<std::int32_t>(fmt::format("chunk {} source layer rows", c), l.source_layer_rows);
    chunks.push_back(std::move(b));
  }
  for (int s = 0; s < 2; ++s) {
    staging[s].send = DeviceBuffer<bf16>(fmt::format("dispatch send buffer {}", s), max_sent * h);
    staging[s].recv = DeviceBuffer<bf16>(fmt::format("dispatch receive buffer {}", s), max_received * h);
    staging[s].combine_send = DeviceBuffer<bf16>(fmt::format("combine send buffer {}", s), max_received * h);
    staging[s].combine_recv = DeviceBuffer<bf16>(fmt::format("combine receive buffer {}", s), max_sent * h);
  }
  const std::int64_t rows = layout.layer_slot_offsets(rank).back();
  x_experts = DeviceBuffer<bf16>("expert inputs (all chunks)", rows * h);
  h13 = DeviceBuffer<bf16>("gate+up activations (all chunks)", rows * 2 * f);
  act = DeviceBuffer<bf16>("SwiGLU outputs (all chunks)", rows * f);
  y = DeviceBuffer<bf16>("expert outputs and input gradients (all chunks)", rows * h);
  dy = DeviceBuffer<bf16>("expert output gradients (all chunks)", rows * h);
  d_act = DeviceBuffer<bf16>("SwiGLU output gradients (all chunks)", rows * f);
  d_h13 = DeviceBuffer<bf16>("gate+up gradients (all chunks)", rows * 2 * f);
  check_cuda(cudaDeviceSynchronize(), "initialise buffers");
}

std::vector<float> LayerBuffers::first_expert_weight_gradients() const {
  std::vector<float> out;
  if (w13_ptr.empty()) return out;
  for (const DeviceBuffer<bf16>* b : {&d_w13, &d_w2})
    for (bf16 v : b->download(0, b->size() / static_cast<std::int64_t>(w13_ptr.size()))) out.push_back(__bfloat162float(v));
  return out;
}

void LayerBuffers::reset_and_poison(cudaStream_t stream) const {
  auto poison = [&](const DeviceBuffer<bf16>& b) {
    if (b.size() == 0) return;
    check_cuda(cudaMemsetAsync(b.get(), 0xFF, static_cast<std::size_t>(b.size()) * sizeof(bf16), stream), "poison " + b.name());
  };
  for (const StagingSlot& s : staging)
    for (const auto* b : {&s.send, &s.recv, &s.combine_send, &s.combine_recv}) poison(*b);
  for (const auto* b : {&x_experts, &h13, &act, &y, &dy, &d_act, &d_h13}) poison(*b);
  auto zero = [&](void* data, std::int64_t bytes, const std::string& what) {
    if (bytes > 0) check_cuda(cudaMemsetAsync(data, 0, static_cast<std::size_t>(bytes), stream), "zero " + what);
  };
  zero(out.get(), out.size() * 4, out.name());
  zero(dx.get(), dx.size() * 4, dx.name());
  zero(d_w13.get(), d_w13.size() * 2, d_w13.name());
  zero(d_w2.get(), d_w2.size() * 2, d_w2.name());
}

}  // namespace comet
