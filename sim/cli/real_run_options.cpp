#include "real_run_options.hpp"

#include "grouped_gemm.hpp"

#include <fmt/format.h>

namespace comet {

void add_real_run_options(CLI::App& app, RealRunOptions& o, const std::string& unit) {
  app.add_option("--warmup", o.warmup, fmt::format("Untimed runs per {} on each visit", unit))
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--repeats", o.repeats, fmt::format("Timed runs per {} (medians are reported)", unit))
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--passes", o.passes,
                 fmt::format("Visits to every {0}, alternately in order and in reverse (A B C, C B A), the timed runs "
                             "split among them, so a slow drift of the GPU's clock weighs on every {0} alike",
                             unit))
      ->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--heat-seconds", o.heat_s,
                 fmt::format("Seconds of dense GEMMs before each visit's warm-up, so timing starts at the clock the GPU "
                             "holds under sustained load (its power cap), not an idle boost clock"))
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option_function<double>(
         "--lead-in-ms", [&o](double ms) { o.lead_in_s = ms * 1e-3; },
         "Milliseconds of dense GEMMs enqueued right before every run, so the layer starts with no idle gap in which "
         "the clock climbs back (as in training, where layers run back to back)")
      ->default_str(fmt::format("{:g}", o.lead_in_s * 1e3))->check(CLI::NonNegativeNumber);
  app.add_option("--expert-lanes", o.compute.expert_lanes,
                 "Parallel streams the experts' GEMMs are spread over (1 = the compute stream alone); small "
                 "per-expert GEMMs fill only part of the GPU")
      ->capture_default_str()->check(CLI::Range(1, 32));
  app.add_option("--expert-gemm", o.compute.expert_gemm,
                 "The experts' GEMMs: cublas (one per expert), grouped (one CUTLASS grouped GEMM per projection; "
                 "Hopper GPUs), auto (each rank times both on its experts' rows and keeps the faster)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cublas", "grouped"}))
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            std::string why;
            if (value == "grouped" && !kernels::GroupedGemm::available(&why)) return "grouped cannot run here: " + why;
            return "";
          },
          "", "runs here"));
  app.add_option("--watchdog", o.watchdog_s, "Seconds without progress before the NCCL communicators are aborted")
      ->capture_default_str()->check(CLI::PositiveNumber);
}

std::string real_run_description(const RealRunOptions& o) {
  return fmt::format("{:g} s of GEMMs then {} warm-up run(s) per visit, {} timed run(s) over {} pass(es) (median), "
                     "{:g} ms lead-in before each run, expert GEMMs {} (cuBLAS on {} lane(s)){}",
                     o.heat_s, o.warmup, o.repeats, std::max(1, std::min(o.passes, o.repeats)), o.lead_in_s * 1e3,
                     o.compute.expert_gemm, o.compute.expert_lanes, o.compute.op_graphs ? " replayed from CUDA graphs" : "");
}

}  // namespace comet
