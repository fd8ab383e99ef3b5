#include "simgrid_child.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace comet {
namespace {

bool write_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

std::vector<double> run_simgrid_child(const std::string& engine, const std::vector<std::string>& configs,
                                      double timeout_s,
                                      const std::function<std::vector<double>(simgrid::s4u::Engine&)>& simulate) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe() failed");
  std::fflush(nullptr);  // or the child's copy of unwritten output would be written twice
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork() failed");
  if (pid == 0) {
    ::close(fds[0]);
    ::alarm(static_cast<unsigned>(std::ceil(timeout_s)));  // never a hang: SIGALRM ends the child
    // COMET_SIMGRID_LOG=root.thres:info (any --log setting) shows SimGrid's own messages.
    const char* log = std::getenv("COMET_SIMGRID_LOG");
    std::vector<std::string> words{"comet-" + engine, std::string("--log=") + (log ? log : "root.thres:critical")};
    for (const std::string& c : configs) words.push_back("--cfg=" + c);
    // COMET_SIMGRID_CFG="name:value,name:value" adds SimGrid settings, for experiments.
    if (const char* extra = std::getenv("COMET_SIMGRID_CFG")) {
      std::string rest = extra;
      for (std::size_t comma; !rest.empty(); rest = comma == std::string::npos ? "" : rest.substr(comma + 1)) {
        comma = rest.find(',');
        words.push_back("--cfg=" + rest.substr(0, comma));
      }
    }
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    int argc = static_cast<int>(words.size());
    int code = 0;
    try {
      simgrid::s4u::Engine sg(&argc, argv.data());
      const std::vector<double> result = simulate(sg);
      const std::uint64_t count = result.size();
      if (!write_all(fds[1], &count, sizeof count) || !write_all(fds[1], result.data(), count * sizeof(double))) code = 1;
    } catch (const std::exception& error) {
      const std::string text = error.what();
      const std::uint64_t marker = ~std::uint64_t{0};
      write_all(fds[1], &marker, sizeof marker);
      write_all(fds[1], text.data(), text.size());
      code = 1;
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  std::string bytes;
  char buffer[1 << 16];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) bytes.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    throw std::runtime_error(signal == SIGALRM
                                 ? fmt::format("the {} engine ran past its {:.0f} s limit and was stopped", engine, timeout_s)
                                 : fmt::format("the {} engine's simulation died ({}); SimGrid's ns-3 model aborts at some "
                                               "message sizes: use it on small cross-checks only",
                                               engine, strsignal(signal)));
  }
  std::uint64_t count = 0;
  if (bytes.size() >= sizeof count) std::memcpy(&count, bytes.data(), sizeof count);
  if (count == ~std::uint64_t{0})
    throw std::runtime_error(fmt::format("the {} engine failed: {}", engine, bytes.substr(sizeof count)));
  if (WEXITSTATUS(status) != 0 || bytes.size() != sizeof count + count * sizeof(double))
    throw std::runtime_error(fmt::format("the {} engine's simulation failed (exit code {})", engine, WEXITSTATUS(status)));
  std::vector<double> result(count);
  std::memcpy(result.data(), bytes.data() + sizeof count, count * sizeof(double));
  return result;
}

}  // namespace comet
