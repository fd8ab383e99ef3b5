// comet_gpu_bench section `unpermute`: the fused combine (kernels/fused_combine_gemm.hpp) with this
// GPU's unpermute in the same launch, against the launch and then combine_rows, on GPU 0.
//
// This GPU is source 0 of the combine's route (as in section `fused`: the other sources' buffers
// host-mapped, on other GPUs or local, --fused-transport) and a destination: its tokens x top_k
// copies come back into its combine buffer, those it sent to its own experts through this launch's
// sends, the others from senders whose launches have already ended (their rows there, their
// landing counters full: this is one GPU). Its unpermute blocks reduce each token's columns
// N tile by N tile as soon as the landing counters of its copies say the rows are in.
// Each variant that launches resets this GPU's landing counters first (a device-to-device copy).
//   tasks      who takes a send: blk (a send block) or wrp (each warp of one)
//   plain      the launch with `send` send blocks and no landing counters (section `fused`'s)
//   fused      the same with its sends raising the destinations' landing counters
//   unperm     combine_rows alone (the unpermute kernel every other policy runs after the combine)
//   serial     fused, then combine_rows
//   with       fused with `unperm` unpermute blocks beside the send blocks
//   ready      the same with every counter full from the start: the unpermute blocks never wait
//              (what they cost beside the GEMM and the sends when no rows are late)
//   hidden     (serial - with) / unperm: the share of the unpermute the launch hides (1: all of it)
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "bench_common.hpp"
#include "bench_sections.hpp"
#include "fused_buffers.hpp"
#include "fused_combine_gemm.hpp"
#include "fused_unpermute_schedule.hpp"
#include "gpu_error.hpp"
#include "median.hpp"
#include "moe_model.hpp"
#include "permute.hpp"

namespace comet::bench {

namespace {

// This GPU's tokens as a destination: tokens x top_k copies; those for its own experts (source 0 of
// `route`) as the route says, the rest spread evenly over the other senders' experts; the copies
// dealt to tokens at random (seeded), its own senders' rows first in the combine buffer.
struct DestinationTokens {
  kernels::CombineReturn back;
  std::vector<std::int32_t> positions;
  std::int64_t rows = 0;

  DestinationTokens(const kernels::DispatchRoute& route, std::int64_t tokens, int top_k) {
    back = {route.sources, route.experts, {}, {}};
    std::int64_t own = 0;
    for (int e = 0; e < route.experts; ++e) own += route.rows_of(e, 0);
    const std::int64_t copies = std::max(tokens * top_k, own);
    const std::int64_t other_slots = static_cast<std::int64_t>(route.sources - 1) * route.experts;
    for (int s = 0; s < route.sources; ++s)
      for (int e = 0; e < route.experts; ++e)
        back.sent.push_back(s == 0 ? route.rows_of(e, 0) : (copies - own) / std::max<std::int64_t>(other_slots, 1));
    rows = std::accumulate(back.sent.begin(), back.sent.end(), std::int64_t{0});
    std::vector<std::int32_t> slots(static_cast<std::size_t>(rows));
    std::iota(slots.begin(), slots.end(), 0);
    std::shuffle(slots.begin(), slots.end(), std::mt19937_64(17));
    positions.assign(static_cast<std::size_t>(tokens * top_k), -1);
    std::copy_n(slots.begin(), std::min<std::size_t>(slots.size(), positions.size()), positions.begin());
  }
};

void check_watchdog(kernels::FusedCombineGemm& kernel, const std::string& what) {
  check_cuda(cudaDeviceSynchronize(), what);
  if (kernel.watchdog() >= 0) throw std::runtime_error(what + ": the fused kernel's watchdog gave up: " + kernel.watchdog_report());
}

// One model and token count: the table's rows, one per send- and unpermute-block count.
void measure_unpermute(const FusedOptions& o, const std::string& name, std::int64_t tokens, int gpus, cudaStream_t stream,
                       std::vector<std::string>& rows_out) {
  const MoeModel m = *find_model_preset(name);
  const int experts = std::max(1, m.experts / o.ep);
  const std::int64_t k = m.expert_ffn, n = m.hidden;
  const std::int64_t rows_per_expert = tokens * m.top_k / experts / o.sources * o.sources;
  const kernels::DispatchRoute route = even_route(rows_per_expert * experts, experts, o.sources);
  const kernels::FusedCombineSchedule schedule = kernels::FusedCombineGemm::schedule_for(route, n);
  const std::int64_t per_source = schedule.total_rows() / o.sources;
  DeviceBuffer<bf16> act("act", schedule.total_rows() * k), weights("w2", experts * k * n), out("out", schedule.total_rows() * n);
  fill(act, 3), fill(weights, 5);
  // Destinations: this GPU's combine buffer (its own senders' rows first), the others as section `fused` has them.
  const DestinationTokens d(route, tokens, m.top_k);
  DeviceBuffer<bf16> received("combine buffer", d.rows * n);
  fill(received, 7);
  PerSource others(o.sources, per_source * n, o.transport, gpus);
  const int counters = schedule.landing.counters();
  std::vector<std::unique_ptr<RemoteBuffer>> other_landing;  // each other destination's counters (count bf16 = 2 x counters)
  DeviceBuffer<unsigned> landing("landing counters", counters);
  kernels::FusedCombineBuffers buffers{act.get(), weights.get(), out.get(), {received.get()}, {landing.get()}};
  for (int s = 1; s < o.sources; ++s) {
    other_landing.push_back(std::make_unique<RemoteBuffer>(2 * static_cast<std::int64_t>(counters), o.transport, o.transport == FusedTransport::PEER ? 1 + (s - 1) % (gpus - 1) : -1));
    check_cuda(cudaMemset(other_landing.back()->device(), 0, sizeof(unsigned) * counters), "clear landing counters");
    buffers.destinations.push_back(others.pointers[static_cast<std::size_t>(s)]);
    buffers.landing.push_back(other_landing.back()->device_as<unsigned>());
  }
  // The other senders' counters full, this GPU's 0: what each run starts from.
  const kernels::UnpermuteSchedule unpermute =
      kernels::make_unpermute_schedule(d.back, d.positions, m.top_k, schedule.n_tiles, kernels::FusedCombineGemm::UNPERMUTE_TOKENS);
  std::vector<unsigned> start(static_cast<std::size_t>(counters), 0);
  for (int s = 1; s < o.sources; ++s)
    for (int e = 0; e < experts; ++e)
      for (int j = 0; j < schedule.n_tiles; ++j) start[static_cast<std::size_t>(schedule.landing.counter(s, e, j))] = static_cast<unsigned>(d.back.sent_to(s, e));
  DeviceBuffer<unsigned> landing_start("landing counters at the start", start);
  std::vector<unsigned> full(start.size());
  std::transform(unpermute.expected.begin(), unpermute.expected.end(), full.begin(), [](std::int64_t rows) { return static_cast<unsigned>(rows); });
  DeviceBuffer<unsigned> landing_full("landing counters, all full", full);
  DeviceBuffer<std::int32_t> positions("positions", d.positions);
  std::vector<float> host_weights(d.positions.size());
  std::mt19937_64 rng(11);
  for (float& w : host_weights) w = std::uniform_real_distribution<float>(0.0f, 1.0f)(rng);
  DeviceBuffer<float> gate_weights("gate weights", host_weights);
  DeviceBuffer<float> unpermuted("unpermuted tokens", tokens * n);
  check_cuda(cudaMemset(unpermuted.get(), 0, sizeof(float) * tokens * n), "clear");
  kernels::FusedCombineGemm kernel, plain;
  check_cuda(kernel.prepare(schedule, k, n, buffers), "prepare the fused combine");
  kernels::FusedCombineBuffers no_landing = buffers;
  no_landing.landing.clear();
  check_cuda(plain.prepare(schedule, k, n, no_landing), "prepare the fused combine without landing counters");
  check_cuda(kernel.prepare_unpermute(unpermute, n, {received.get(), positions.get(), gate_weights.get(), unpermuted.get(), landing.get()}),
             "prepare the unpermute");
  const auto reset_to = [&](const DeviceBuffer<unsigned>& from) {
    check_cuda(cudaMemcpyAsync(landing.get(), from.get(), sizeof(unsigned) * counters, cudaMemcpyDeviceToDevice, stream), "reset");
  };
  const auto reset = [&] { reset_to(landing_start); };
  const auto combine_rows = [&] {
    check_cuda(kernels::combine_rows(received.get(), positions.get(), gate_weights.get(), tokens, m.top_k, static_cast<int>(n),
                                     unpermuted.get(), stream),
               "combine_rows");
  };
  using Tasks = kernels::FusedCombineGemm::SendTasks;
  for (const Tasks tasks : {Tasks::PER_BLOCK, Tasks::PER_WARP})
    for (int send : o.blocks) {
      kernel.set_send_tasks(tasks), plain.set_send_tasks(tasks);
      std::vector<std::function<void()>> variants{[&] { check_cuda(plain.run(send, stream), "fused, no landing"); },
                                                  [&] { reset(), check_cuda(kernel.run(send, stream), "fused"); }, combine_rows,
                                                  [&] { reset(), check_cuda(kernel.run(send, stream), "fused"), combine_rows(); }};
      for (int r : o.unpermute_blocks) variants.push_back([&, r] { reset(), check_cuda(kernel.run(send, stream, 0, r), "fused + unpermute"); });
      for (int r : o.unpermute_blocks)
        variants.push_back([&, r] { reset_to(landing_full), check_cuda(kernel.run(send, stream, 0, r), "fused + unpermute, all landed"); });
      std::vector<std::vector<double>> samples(variants.size());
      for (int round = 0; round < o.rounds; ++round)
        for (std::size_t v = 0; v < variants.size(); ++v) {
          samples[v].push_back(time_s(variants[v], stream, 3));
          check_watchdog(kernel, fmt::format("{} {} tokens, {} send blocks", name, tokens, send));
          check_watchdog(plain, fmt::format("{} {} tokens, {} send blocks, no landing", name, tokens, send));
        }
      std::vector<double> t;
      for (auto& s : samples) t.push_back(median(s));
      for (std::size_t i = 0; i < o.unpermute_blocks.size(); ++i) {
        const double with = t[4 + i], ready = t[4 + o.unpermute_blocks.size() + i];
        rows_out.push_back(fmt::format("{:<14} {:>7} {:>5} {:>6} {:>6} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>7.2f}", name,
                                       tokens, tasks == Tasks::PER_WARP ? "wrp" : "blk", send, o.unpermute_blocks[i], t[0] * 1e3,
                                       t[1] * 1e3, t[2] * 1e3, t[3] * 1e3, with * 1e3, ready * 1e3, (t[3] - with) / t[2]));
        fmt::print(stderr, "# unpermute measured: {}\n", rows_out.back());
      }
    }
}

}  // namespace

void unpermute_section(const FusedOptions& o) {
  int gpus = 0;
  check_cuda(cudaGetDeviceCount(&gpus), "GPU count");
  if (o.transport == FusedTransport::PEER && gpus < 2) {
    fmt::print("\n# Fused unpermute over peer access: skipped (needs 2 GPUs, this machine has {})\n", gpus);
    return;
  }
  check_cuda(cudaSetDevice(0), "GPU 0");
  std::string why_not;
  if (!kernels::FusedCombineGemm::available(&why_not)) {
    fmt::print("\n# Fused unpermute: skipped ({})\n", why_not);
    return;
  }
  for (int r : o.unpermute_blocks)
    if (r <= 0 || r % kernels::FusedCombineGemm::CLUSTER_M != 0)
      throw std::invalid_argument(fmt::format("unpermute blocks {}: must be a positive multiple of {}", r, kernels::FusedCombineGemm::CLUSTER_M));
  cudaStream_t stream = nullptr;
  check_cuda(cudaStreamCreate(&stream), "stream");
  std::vector<std::string> rows;
  for (const std::string& name : o.models)
    for (std::int64_t tokens : o.tokens) measure_unpermute(o, name, tokens, gpus, stream, rows);
  cudaStreamDestroy(stream);
  fmt::print("\n# Fused combine + unpermute (y = act w2, then each token's weighted sum of its top-k rows): {} sources, source 0 this GPU,\n"
             "# the others' buffers and landing counters {}; EP {}; {} interleaved rounds, medians.\n"
             "# tasks = who takes a send (blk: a block, wrp: each warp of it); plain = the launch without landing counters;\n"
             "# fused = the launch raising them; unperm = combine_rows alone; serial = fused then combine_rows; with = fused\n"
             "# with `unperm` unpermute blocks; ready = the same with every counter full from the start (no unpermute wait);\n"
             "# hidden = (serial - with) / unperm (1: the unpermute entirely hidden)\n",
             o.sources, o.transport == FusedTransport::HOST ? "host-mapped pinned memory" : o.transport == FusedTransport::PEER ? "on the other GPUs" : "in this GPU's memory",
             o.ep, o.rounds);
  fmt::print("{:<14} {:>7} {:>5} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}\n", "model", "tokens", "tasks", "send", "unperm",
             "plain", "fused", "unperm", "serial", "with", "ready", "hidden");
  fmt::print("{:<14} {:>7} {:>5} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}\n", "#", "", "", "blocks", "blocks", "ms", "ms", "ms",
             "ms", "ms", "ms", "");
  for (const auto& row : rows) fmt::print("{}\n", row);
}

}  // namespace comet::bench
