#!/usr/bin/env python3
"""The accuracy matrix from `comet validate -o` JSON files (with predictions): one row per
scenario and policy (predicted and measured layer time, signed error, per-op-class errors), the
median and max |error| of layer time, and how `dynamic` did against the best measured of none,
fixed:2, fixed:4 and tapered:4 in each scenario.
    scripts/accuracy_table.py FILE.json... [--json OUT.json]"""
import argparse
import json
import statistics

CLASSES = ["expert_forward", "data_gradient", "weight_gradient", "permute", "all_to_all", "other"]
BASELINES = ["none", "fixed:2", "fixed:4", "tapered:4"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--json", help="write the rows and summary here")
    args = parser.parse_args()
    rows, dynamic = [], []
    for path in args.files:
        with open(path) as f:
            doc = json.load(f)
        measured = {}
        for p in doc["policies"]:
            pred = p.get("prediction")
            if pred is None:
                continue
            row = {"scenario": doc["scenario"], "partition": p["partition"], "choice": p["choice"],
                   "predicted_ms": pred["layer"]["predicted_s"] * 1e3, "measured_ms": pred["layer"]["measured_s"] * 1e3,
                   "error": pred["layer"]["error"],
                   "samples_ms": [s * 1e3 for s in p.get("layer_time_samples_s", [])],
                   "by_class": {c: v["error"] for c, v in pred["by_class"].items()}}
            rows.append(row)
            measured[p["partition"]] = row["measured_ms"]
        if "dynamic" in measured and all(b in measured for b in BASELINES):
            best = min(BASELINES, key=lambda b: measured[b])
            dynamic.append({"scenario": doc["scenario"], "dynamic_ms": measured["dynamic"], "best": best,
                            "best_ms": measured[best], "ratio": measured["dynamic"] / measured[best]})
    print("# accuracy matrix: predicted (analytical engine, calibration) against measured layer time (forward + backward)")
    print(f"{'scenario':<34} {'partition':<10} {'pred':>9} {'meas':>9} {'err':>7} {'spread':>7} " +
          " ".join(f"{c[:10]:>10}" for c in CLASSES))
    print(f"{'#':<34} {'':<10} {'ms':>9} {'ms':>9} {'%':>7} {'%':>7} " + " ".join(f"{'%':>10}" for _ in CLASSES))
    for r in rows:
        s = r["samples_ms"]
        spread = (max(s) - min(s)) / statistics.median(s) * 100 if s else float("nan")
        cls = " ".join(f"{r['by_class'][c] * 100:>+10.1f}" if r["by_class"].get(c) is not None else f"{'-':>10}" for c in CLASSES)
        print(f"{r['scenario']:<34} {r['partition']:<10} {r['predicted_ms']:>9.3f} {r['measured_ms']:>9.3f} "
              f"{r['error'] * 100:>+7.1f} {spread:>7.1f} {cls}")
    errors = [abs(r["error"]) for r in rows if r["error"] is not None]
    summary = {"configurations": len(rows), "median_abs_error": statistics.median(errors), "max_abs_error": max(errors)}
    for c in CLASSES:
        e = [abs(r["by_class"][c]) for r in rows if r["by_class"].get(c) is not None]
        if e:
            summary[f"{c}_median_abs_error"] = statistics.median(e)
            summary[f"{c}_max_abs_error"] = max(e)
    within = [d for d in dynamic if d["ratio"] <= 1.02]
    summary["dynamic_within_2pct_of_best"] = f"{len(within)}/{len(dynamic)}"
    print(f"# layer time |error| over {len(rows)} configurations: median {summary['median_abs_error'] * 100:.2f}%, "
          f"max {summary['max_abs_error'] * 100:.2f}% (bar: median <= 3%, max <= 8%)")
    for c in CLASSES:
        if f"{c}_median_abs_error" in summary:
            print(f"# {c} |error|: median {summary[c + '_median_abs_error'] * 100:.1f}%, max {summary[c + '_max_abs_error'] * 100:.1f}%")
    print(f"# dynamic within 2% of (or better than) the best of {', '.join(BASELINES)}: {summary['dynamic_within_2pct_of_best']} scenarios")
    for d in dynamic:
        print(f"#   {d['scenario']:<34} dynamic {d['dynamic_ms']:.3f} ms, best {d['best']} {d['best_ms']:.3f} ms, ratio {d['ratio']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "dynamic": dynamic, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
