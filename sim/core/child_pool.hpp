// Runs numbered work items in forked child processes, a few at once (`comet sweep --jobs N`).
// Each child leads its own process group, so stopping it also stops what it forked (the
// SimGrid engines run in a grandchild). Results come back in the parent, one callback per
// finished item, in the order they finish.
#pragma once

#include <functional>
#include <string>

#include "child_process.hpp"

namespace comet {

struct ChildPoolTasks {
  int num_items = 0;
  int jobs = 1;  ///< children at most at once
  /// Runs in the child: the result of item `index`, sent back as text.
  std::function<std::string(int index)> work;
  /// Runs in the parent when an item's child starts (optional).
  std::function<void(int index)> on_started;
  /// Runs in the parent when an item's child has ended; returning false stops the pool.
  std::function<bool(int index, const ChildOutcome& outcome)> on_finished;
  /// Polled in the parent (about every 100 ms and after every signal); true stops the pool.
  std::function<bool()> should_stop;
};

/// The cores this process may run on (its CPU affinity), at least 1.
int available_cores();

/// Runs the items in index order, `jobs` at a time. Returns true when every item finished;
/// false when stopped: then children still running are sent SIGTERM (their whole process
/// group), reaped without a callback, and items not yet started never start.
bool run_child_pool(const ChildPoolTasks& tasks);

}  // namespace comet
