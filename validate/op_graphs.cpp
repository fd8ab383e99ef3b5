#include "op_graphs.hpp"

#include "gpu_error.hpp"

namespace comet {

OpGraphs::OpGraphs(bool enabled) : enabled_(enabled) {
  if (enabled_) check_cuda(cudaStreamCreateWithFlags(&capture_, cudaStreamNonBlocking), "create the capture stream");
}

OpGraphs::~OpGraphs() {
  for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
  if (capture_) cudaStreamDestroy(capture_);
}

void OpGraphs::prepare(int key, const std::function<void(cudaStream_t)>& enqueue) {
  if (!enabled_ || graphs_.count(key) > 0) return;
  // Thread-local mode: other ranks' host threads keep launching while this one captures.
  check_cuda(cudaStreamBeginCapture(capture_, cudaStreamCaptureModeThreadLocal), "begin graph capture");
  cudaGraph_t graph = nullptr;
  try {
    enqueue(capture_);
  } catch (...) {
    cudaStreamEndCapture(capture_, &graph);  // leave the stream usable; the error is the enqueue's
    if (graph) cudaGraphDestroy(graph);
    throw;
  }
  check_cuda(cudaStreamEndCapture(capture_, &graph), "end graph capture");
  cudaGraphExec_t exec = nullptr;
  const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  check_cuda(instantiated, "instantiate graph");
  graphs_.emplace(key, exec);
}

void OpGraphs::launch(int key, cudaStream_t into, const std::function<void(cudaStream_t)>& enqueue) {
  if (!enabled_) return enqueue(into);
  prepare(key, enqueue);
  check_cuda(cudaGraphLaunch(graphs_.at(key), into), "launch graph");
}

}  // namespace comet
