#include "distributed_points.hpp"

#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace comet {
namespace {

constexpr int RESULT_TAG = 7;

bool launched_by_mpi_launcher() {
  for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(variable)) return true;
  return false;
}

// A finished point as bytes: index, signal, failed, then the child's output.
std::string pack(int index, const ChildOutcome& outcome) {
  const int header[3] = {index, outcome.signal, outcome.failed ? 1 : 0};
  return std::string(reinterpret_cast<const char*>(header), sizeof header) + outcome.output;
}

std::pair<int, ChildOutcome> unpack(const std::string& bytes) {
  int header[3] = {0, 0, 0};
  std::memcpy(header, bytes.data(), sizeof header);
  ChildOutcome outcome;
  outcome.signal = header[1];
  outcome.failed = header[2] != 0;
  outcome.output = bytes.substr(sizeof header);
  return {header[0], std::move(outcome)};
}

}  // namespace

PointRanks start_point_ranks() {
  PointRanks ranks;
  if (!launched_by_mpi_launcher()) return ranks;
  MPI_Init(nullptr, nullptr);
  MPI_Comm_rank(MPI_COMM_WORLD, &ranks.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks.size);
  return ranks;
}

bool run_distributed_pool(const ChildPoolTasks& tasks, const PointRanks& ranks) {
  if (ranks.size == 1) return run_child_pool(tasks);
  std::vector<int> mine;
  for (int i = ranks.rank; i < tasks.num_items; i += ranks.size) mine.push_back(i);
  ChildPoolTasks local = tasks;
  local.num_items = static_cast<int>(mine.size());
  local.work = [&](int k) { return tasks.work(mine[k]); };
  if (!ranks.root()) {
    local.on_started = nullptr;
    local.on_finished = [&](int k, const ChildOutcome& outcome) {
      const std::string bytes = pack(mine[k], outcome);
      MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, 0, RESULT_TAG, MPI_COMM_WORLD);
      return true;
    };
    return run_child_pool(local);
  }
  // Rank 0: its own points through the pool, the others' as they arrive (polled between its own).
  const int remote = tasks.num_items - static_cast<int>(mine.size());
  int received = 0;
  bool callback_stopped = false;
  auto receive_available = [&] {
    for (;;) {
      int flag = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, RESULT_TAG, MPI_COMM_WORLD, &flag, &status);
      if (!flag) return true;
      int size = 0;
      MPI_Get_count(&status, MPI_BYTE, &size);
      std::string bytes(static_cast<std::size_t>(size), '\0');
      MPI_Recv(bytes.data(), size, MPI_BYTE, status.MPI_SOURCE, RESULT_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      ++received;
      const auto [index, outcome] = unpack(bytes);
      if (tasks.on_finished && !tasks.on_finished(index, outcome)) return false;
    }
  };
  local.on_started = [&](int k) {
    if (tasks.on_started) tasks.on_started(mine[k]);
  };
  local.on_finished = [&](int k, const ChildOutcome& outcome) {
    return !tasks.on_finished || tasks.on_finished(mine[k], outcome);
  };
  local.should_stop = [&] {
    if (tasks.should_stop && tasks.should_stop()) return true;
    callback_stopped = !receive_available();
    return callback_stopped;
  };
  if (!run_child_pool(local)) return false;
  while (received < remote) {
    if (tasks.should_stop && tasks.should_stop()) return false;
    if (!receive_available()) return false;
    if (received < remote) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void finish_point_ranks(const PointRanks& ranks) {
  if (ranks.size > 1 || launched_by_mpi_launcher()) MPI_Finalize();
}

void abort_point_ranks(const PointRanks& ranks, int code) {
  if (ranks.size <= 1) return;
  std::fflush(nullptr);  // rank 0's table and messages first
  MPI_Abort(MPI_COMM_WORLD, code);
}

}  // namespace comet
