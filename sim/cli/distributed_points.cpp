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

// Ranks enter the pool together (all_ranks_ok) and leave it together: every rank other than 0 sends
// DONE_TAG once its points are run (or stopped), and waits for END_TAG from rank 0; rank 0 sends
// STOP_TAG to the ranks still running when it stops early, drains their messages until every DONE
// is in, then sends END_TAG. A failing point thus ends every rank through MPI_Finalize, with no
// MPI_Abort (run_on_point_ranks says why that matters).
namespace {

constexpr int RESULT_TAG = 7;
constexpr int DONE_TAG = 8;
constexpr int STOP_TAG = 9;
constexpr int END_TAG = 10;

// Where this rank is: before run_distributed_pool, inside it, or past it with every other rank.
enum class PoolStage { BEFORE, INSIDE, PAST };
PoolStage stage = PoolStage::BEFORE;

// Every rank says whether it got this far without an error; true when all did (a collective:
// each rank calls it once, at the pool's entry or in place of it after an error).
bool all_ranks_ok(bool ok) {
  int mine = ok ? 1 : 0, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all == 1;
}

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

int run_on_point_ranks(const std::function<int(const PointRanks&)>& body) {
  PointRanks ranks;
  const bool mpi = launched_by_mpi_launcher();
  if (mpi) {
    MPI_Init(nullptr, nullptr);
    MPI_Comm_rank(MPI_COMM_WORLD, &ranks.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks.size);
  }
  // A rank that never reached the pool (an error, or a body that returned early) still answers
  // the pool's entry agreement, so the ranks that did are released: no rank waits forever.
  auto finish = [&] {
    if (ranks.size > 1 && stage == PoolStage::BEFORE) all_ranks_ok(false);
    if (ranks.size > 1 && stage == PoolStage::INSIDE) {  // thrown while points run
      std::fflush(nullptr);  // this rank's messages first
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
    if (mpi) MPI_Finalize();
  };
  int code = 0;
  try {
    code = body(ranks);
  } catch (...) {
    finish();
    throw;
  }
  finish();
  return code;
}

namespace {

void send_empty(int rank, int tag) { MPI_Send(nullptr, 0, MPI_BYTE, rank, tag, MPI_COMM_WORLD); }

// A rank other than 0: its points in child processes, each result sent to rank 0 as it ends; stops
// when rank 0 says so (or on a signal), then waits for rank 0's END, polling so that it yields its core.
bool run_as_worker(const ChildPoolTasks& tasks, const std::vector<int>& mine) {
  bool stopped_by_root = false;
  ChildPoolTasks local = tasks;
  local.num_items = static_cast<int>(mine.size());
  local.work = [&](int k) { return tasks.work(mine[k]); };
  local.on_started = nullptr;
  local.on_finished = [&](int k, const ChildOutcome& outcome) {
    const std::string bytes = pack(mine[k], outcome);
    MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, 0, RESULT_TAG, MPI_COMM_WORLD);
    return true;
  };
  local.should_stop = [&] {
    int flag = 0;
    MPI_Iprobe(0, STOP_TAG, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    stopped_by_root = stopped_by_root || flag != 0;
    return stopped_by_root || (tasks.should_stop && tasks.should_stop());
  };
  const bool complete = run_child_pool(local);
  send_empty(0, DONE_TAG);
  for (;;) {  // STOP (if sent) then END, in the order rank 0 sent them
    int flag = 0;
    MPI_Status status;
    MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &status);
    if (!flag) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    MPI_Recv(nullptr, 0, MPI_BYTE, 0, status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (status.MPI_TAG == END_TAG) return complete;
  }
}

}  // namespace

bool run_distributed_pool(const ChildPoolTasks& tasks, const PointRanks& ranks) {
  if (ranks.size == 1) return run_child_pool(tasks);
  if (!all_ranks_ok(true)) {  // another rank failed before its pool: nobody runs a point
    stage = PoolStage::PAST;
    return false;
  }
  stage = PoolStage::INSIDE;
  std::vector<int> mine;
  for (int i = ranks.rank; i < tasks.num_items; i += ranks.size) mine.push_back(i);
  if (!ranks.root()) {
    const bool complete = run_as_worker(tasks, mine);
    stage = PoolStage::PAST;
    return complete;
  }
  // Rank 0: its own points through the pool, the others' as they arrive (polled between its own).
  std::vector<bool> done(static_cast<std::size_t>(ranks.size), false);
  int ranks_done = 1;  // itself
  bool stopping = false;
  auto stop_the_others = [&] {
    if (stopping) return;
    stopping = true;
    for (int r = 1; r < ranks.size; ++r)
      if (!done[static_cast<std::size_t>(r)]) send_empty(r, STOP_TAG);
  };
  // Receives what has arrived; results are handed to on_finished until one callback says stop.
  auto receive_available = [&] {
    for (;;) {
      int flag = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &status);
      if (!flag) return;
      int size = 0;
      MPI_Get_count(&status, MPI_BYTE, &size);
      std::string bytes(static_cast<std::size_t>(size), '\0');
      MPI_Recv(bytes.data(), size, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      if (status.MPI_TAG == DONE_TAG) {
        done[static_cast<std::size_t>(status.MPI_SOURCE)] = true;
        ++ranks_done;
        continue;
      }
      if (stopping) continue;  // a point finished after the stop: dropped, as a local run drops it
      const auto [index, outcome] = unpack(bytes);
      if (tasks.on_finished && !tasks.on_finished(index, outcome)) stop_the_others();
    }
  };
  ChildPoolTasks local = tasks;
  local.num_items = static_cast<int>(mine.size());
  local.work = [&](int k) { return tasks.work(mine[k]); };
  local.on_started = [&](int k) {
    if (tasks.on_started) tasks.on_started(mine[k]);
  };
  local.on_finished = [&](int k, const ChildOutcome& outcome) {
    return !tasks.on_finished || tasks.on_finished(mine[k], outcome);
  };
  local.should_stop = [&] {
    if (tasks.should_stop && tasks.should_stop()) return true;
    receive_available();
    return stopping;
  };
  if (!run_child_pool(local)) stop_the_others();
  while (ranks_done < ranks.size) {
    if (!stopping && tasks.should_stop && tasks.should_stop()) stop_the_others();
    receive_available();
    if (ranks_done < ranks.size) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int r = 1; r < ranks.size; ++r) send_empty(r, END_TAG);
  stage = PoolStage::PAST;
  return !stopping;
}

}  // namespace comet
