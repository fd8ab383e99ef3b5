#include "child_process.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <exception>
#include <stdexcept>

namespace comet {
namespace {

bool write_all(int fd, const std::string& text) {
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n <= 0) return false;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

RunningChild spawn_child_process(const std::function<std::string()>& work, bool own_process_group) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe() failed");
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::runtime_error("fork() failed");
  }
  if (pid == 0) {
    ::close(fds[0]);
    if (own_process_group) {
      ::setpgid(0, 0);
      std::signal(SIGINT, SIG_DFL);
      std::signal(SIGTERM, SIG_DFL);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(1);  // the parent died before prctl took effect
    }
    int code = 0;
    std::string text;
    try {
      text = work();
    } catch (const std::exception& error) {
      text = error.what();
      code = 1;
    }
    ::_exit(write_all(fds[1], text) ? code : 1);
  }
  ::close(fds[1]);
  // Set the group from the parent too: whichever runs first, the group exists before the
  // parent may need to signal it.
  if (own_process_group) ::setpgid(pid, pid);
  return {pid, fds[0]};
}

ChildOutcome finish_child_process(const RunningChild& child, std::string output_so_far) {
  ChildOutcome outcome;
  outcome.output = std::move(output_so_far);
  char buffer[1 << 16];
  for (ssize_t n; (n = ::read(child.output_fd, buffer, sizeof buffer)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    outcome.output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(child.output_fd);
  int status = 0;
  rusage usage{};
  while (::wait4(child.pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  outcome.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  outcome.failed = !WIFSIGNALED(status) && WEXITSTATUS(status) != 0;
  outcome.peak_rss_MiB = static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
  return outcome;
}

ChildOutcome run_in_child_process(const std::function<std::string()>& work) {
  return finish_child_process(spawn_child_process(work));
}

}  // namespace comet
