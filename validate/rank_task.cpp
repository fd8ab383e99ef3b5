#include "rank_task.hpp"

#include <fmt/format.h>
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <exception>
#include <optional>

#include "gpu_error.hpp"
#include "gpu_heater.hpp"
#include "layer_buffers.hpp"
#include "median.hpp"
#include "rank_resources.hpp"

namespace comet {
namespace {

std::int64_t stand_in_columns(const LayerDims& dims) { return dims.hidden; }

Timeline merge_job(const RealJob& job, const std::vector<RankResult>& ranks, std::size_t job_index) {
  Timeline timeline = timeline_for(*job.plan, "real");
  const std::size_t repeats = ranks[0].times[job_index].size();
  for (const Op& op : job.plan->ops()) {
    std::vector<double> starts, ends;
    for (std::size_t rep = 0; rep < repeats; ++rep) {
      double start = 1e300, end = -1e300;
      for (const RankResult& r : ranks) {
        const auto [s, e] = r.times[job_index][rep][op.id];
        if (s < 0) continue;
        start = std::min(start, s);
        end = std::max(end, e);
      }
      if (end < 0) continue;
      starts.push_back(start);
      ends.push_back(end);
    }
    if (starts.empty()) continue;
    timeline.ops[op.id].start_s = median(starts);
    timeline.ops[op.id].end_s = std::max(timeline.ops[op.id].start_s, median(ends));
  }
  return timeline;
}

// Per repeat, the layer time: the earliest op start to the latest op end over every rank.
std::vector<double> layer_time_samples(const std::vector<RankResult>& ranks, std::size_t job_index) {
  std::vector<double> samples;
  for (std::size_t rep = 0; rep < ranks[0].times[job_index].size(); ++rep) {
    double start = 1e300, end = -1e300;
    for (const RankResult& r : ranks)
      for (const auto& [s, e] : r.times[job_index][rep]) {
        if (s < 0) continue;
        start = std::min(start, s);
        end = std::max(end, e);
      }
    if (end >= start) samples.push_back(end - start);
  }
  return samples;
}

}  // namespace

namespace {

// The order jobs run in, pass after pass: forward, then backward, and so on (A B C, C B A), so a
// drift of the GPU over the process (it warms over minutes) weighs on every job alike instead of
// on the last ones. Returns, per pass, the job indices and how many timed runs each gets there.
std::vector<std::pair<std::vector<std::size_t>, int>> run_order(std::size_t jobs, const RealRunOptions& options) {
  const int passes = std::max(1, std::min(options.passes, options.repeats));
  std::vector<std::pair<std::vector<std::size_t>, int>> order;
  for (int p = 0; p < passes; ++p) {
    std::vector<std::size_t> indices(jobs);
    for (std::size_t j = 0; j < jobs; ++j) indices[j] = p % 2 == 0 ? j : jobs - 1 - j;
    const int timed = options.repeats / passes + (p < options.repeats % passes ? 1 : 0);
    order.emplace_back(std::move(indices), timed);
  }
  return order;
}

// comet:B between GPUs: publishes this rank's buffers, waits until every rank has, and maps the
// other GPUs' memory into this one (the fused launches read and write it through peer pointers).
FusedPeers share_fused_buffers(int rank, RankResources& res, LayerBuffers& buffers, RunControl& shared, RankBarrier& barrier,
                               std::uint64_t& run) {
  {
    std::lock_guard lock(shared.mutex);
    shared.fused_buffers[static_cast<std::size_t>(rank)] = &buffers;
  }
  barrier.arrive_and_wait(shared.failed);
  FusedPeers peers;
  std::vector<int> devices;
  {
    std::lock_guard lock(shared.mutex);
    peers.buffers = shared.fused_buffers;
    for (const RankResources* other : shared.resources) devices.push_back(other ? other->device : -1);
  }
  for (int device : devices) {
    if (device == res.device) continue;
    int can = 0;
    check_cuda(cudaDeviceCanAccessPeer(&can, res.device, device), "query peer access");
    if (!can)
      throw GpuError(fmt::format("comet:B between GPUs reads and writes the other GPUs' buffers, but GPU {} cannot map GPU {}'s "
                                 "memory (no NVLink or PCIe peer access between them)",
                                 res.device, device));
    if (const cudaError_t e = cudaDeviceEnablePeerAccess(device, 0); e == cudaErrorPeerAccessAlreadyEnabled)
      cudaGetLastError();  // mapped for an earlier Plan
    else
      check_cuda(e, "enable peer access");
  }
  peers.board = shared.fused_board.get();
  peers.failed = &shared.failed;
  peers.run = &run;
  return peers;
}

}  // namespace

void run_rank(int rank, int device, int ranks, const std::vector<RealJob>& jobs, const LayerDims& dims,
              const RealRunOptions& options, const ncclUniqueId& dispatch_id, const ncclUniqueId& combine_id,
              RunControl& shared, RankBarrier& barrier, RankResult& result) {
  RankResources res(device, rank, ranks, dispatch_id, combine_id, options.comm, options.compute);
  {
    std::lock_guard lock(shared.mutex);
    shared.resources[rank] = &res;
  }
  // Declared outside the try: on failure they must outlive the abort of the communicators
  // (freeing device memory waits for the device, and a stuck NCCL kernel would never finish).
  std::optional<LayerBuffers> buffers_slot;
  std::optional<FusedPeers> peers_slot;  // outlives the runner that points at it
  std::optional<RankRunner> runner_slot;
  std::uint64_t fused_run = 0;           // comet:B between GPUs: the runs' numbers on the milestone board
  std::optional<GpuHeater> heater_slot;
  result.times.assign(jobs.size(), {});
  result.output.assign(jobs.size(), {});
  result.input_gradient.assign(jobs.size(), {});
  result.weight_gradient.assign(jobs.size(), {});
  try {
    GpuHeater& heater = heater_slot.emplace(res.cublas, res.compute);
    for (const auto& [indices, timed] : run_order(jobs.size(), options))
      for (std::size_t j : indices) {
        const RealJob& job = jobs[j];
        runner_slot.reset();
        shared.progress(rank, "allocating buffers for policy " + job.name);
        LayerBuffers& buffers = buffers_slot.emplace(*job.layout, rank, dims, DataSeeds{options.seed}, stand_in_columns(dims));
        // comet:B between GPUs: every rank's launches touch every rank's buffers, so the ranks also
        // meet after each run (no rank resets or frees buffers another's kernels still use).
        const bool fused_between = job.plan->header().transfer_blocks > 0 && ranks > 1;
        peers_slot.reset();
        if (fused_between) peers_slot.emplace(share_fused_buffers(rank, res, buffers, shared, barrier, fused_run));
        RankRunner& runner = runner_slot.emplace(*job.plan, *job.layout, dims, res, buffers, job.compute_sm_fraction,
                                                 stand_in_columns(dims), options.fault, options.watchdog_s,
                                                 peers_slot ? &*peers_slot : nullptr);
        shared.progress(rank, "heating the GPU before policy " + job.name);
        heater.heat_for(options.heat_s);
        for (int i = 0; i < options.warmup + timed; ++i) {
          shared.progress(rank, fmt::format("waiting for the other ranks before policy {} run {}", job.name, i));
          buffers.reset_and_poison(res.compute);
          check_cuda(cudaStreamSynchronize(res.compute), "prepare buffers");
          barrier.arrive_and_wait(shared.failed);  // ranks start each repeat together
          const std::string range = fmt::format("{} run {}", job.name, i);
          nvtxRangePushA(range.c_str());
          heater.enqueue_lead_in(options.lead_in_s);  // the layer then starts with no idle gap before it
          shared.progress(rank, fmt::format("enqueueing policy {} run {}", job.name, i));
          const cudaEvent_t done = runner.enqueue();
          shared.progress(rank, fmt::format("running policy {} run {}", job.name, i));
          wait_with_watchdog(done, res, shared, options.watchdog_s, fmt::format("policy {} run {}", job.name, i));
          // A fused kernel's wait that gave up ended its launch (no hang) but its output is garbage.
          if (const std::string report = runner.fused_watchdog_report(); !report.empty())
            throw GpuError(fmt::format("policy {} run {}: {}", job.name, i, report));
          if (fused_between) {
            barrier.arrive_and_wait(shared.failed);
            shared.fused_board->forget_before(fused_run + 1);  // every rank is past this run
          }
          nvtxRangePop();
          if (i >= options.warmup) result.times[j].push_back(runner.op_times());
        }
        shared.progress(rank, "finished policy " + job.name);
        result.output[j] = buffers.out.download();
        result.input_gradient[j] = buffers.dx.download();
        result.weight_gradient[j] = buffers.first_expert_weight_gradients();
      }
    barrier.arrive_and_wait(shared.failed);
  } catch (const std::exception& error) {
    const std::string message = error.what();
    shared.fail(fmt::format("rank {}: {}", rank, message), message.rfind("stopped:", 0) == 0);
    // Stop every rank: abort all communicators so no NCCL kernel keeps waiting for this one.
    shared.abort_all();
    {
      std::lock_guard lock(shared.mutex);
      shared.resources[rank] = nullptr;
    }
    runner_slot.reset();
    peers_slot.reset();
    buffers_slot.reset();
    heater_slot.reset();
    throw;
  }
  std::lock_guard lock(shared.mutex);
  shared.resources[rank] = nullptr;
}

std::vector<RealMeasurement> merge_ranks(const std::vector<RealJob>& jobs, const std::vector<RankResult>& ranks) {
  std::vector<RealMeasurement> out;
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    RealMeasurement m;
    m.timeline = merge_job(jobs[j], ranks, j);
    m.layer_time_samples_s = layer_time_samples(ranks, j);
    for (const RankResult& r : ranks) {
      LayerTensors& t = m.tensors;
      t.output.insert(t.output.end(), r.output[j].begin(), r.output[j].end());
      t.input_gradient.insert(t.input_gradient.end(), r.input_gradient[j].begin(), r.input_gradient[j].end());
      t.weight_gradient.insert(t.weight_gradient.end(), r.weight_gradient[j].begin(), r.weight_gradient[j].end());
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace comet
