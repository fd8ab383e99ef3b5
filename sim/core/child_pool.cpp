#include "child_pool.hpp"

#include <poll.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <thread>
#include <vector>

namespace comet {
namespace {

struct Slot {
  int index = -1;
  RunningChild child;
  std::string output;
};

// Reads what is available; returns false at end of file (the child closed its pipe).
bool read_available(Slot& slot) {
  char buffer[1 << 16];
  const ssize_t n = ::read(slot.child.output_fd, buffer, sizeof buffer);
  if (n > 0) {
    slot.output.append(buffer, static_cast<std::size_t>(n));
    return true;
  }
  return n < 0 && (errno == EINTR || errno == EAGAIN);
}

void stop_all(std::vector<Slot>& running) {
  for (const Slot& slot : running) ::kill(-slot.child.pid, SIGTERM);
  for (Slot& slot : running) {
    ::close(slot.child.output_fd);
    int status = 0;
    while (::waitpid(slot.child.pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  running.clear();
}

}  // namespace

int available_cores() {
  cpu_set_t allowed;
  if (::sched_getaffinity(0, sizeof allowed, &allowed) == 0) return std::max(1, CPU_COUNT(&allowed));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

bool run_child_pool(const ChildPoolTasks& tasks) {
  const int jobs = std::max(1, tasks.jobs);
  std::vector<Slot> running;
  int next = 0;
  auto stop_requested = [&] { return tasks.should_stop && tasks.should_stop(); };
  while (next < tasks.num_items || !running.empty()) {
    if (stop_requested()) {
      stop_all(running);
      return false;
    }
    while (next < tasks.num_items && static_cast<int>(running.size()) < jobs) {
      const int index = next++;
      Slot slot;
      slot.index = index;
      slot.child = spawn_child_process([&tasks, index] { return tasks.work(index); }, /*own_process_group=*/true);
      running.push_back(std::move(slot));
      if (tasks.on_started) tasks.on_started(index);
    }
    std::vector<pollfd> fds;
    for (const Slot& slot : running) fds.push_back({slot.child.output_fd, POLLIN, 0});
    // A signal interrupts poll (EINTR); the timeout bounds the delay when it lands just before.
    if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
    for (std::size_t i = fds.size(); i-- > 0;) {
      if (fds[i].revents == 0 || read_available(running[i])) continue;
      Slot done = std::move(running[i]);
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
      const ChildOutcome outcome = finish_child_process(done.child, std::move(done.output));
      if (tasks.on_finished && !tasks.on_finished(done.index, outcome)) {
        stop_all(running);
        return false;
      }
    }
  }
  return true;
}

}  // namespace comet
