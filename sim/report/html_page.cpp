#include "html_page.hpp"

#include <fmt/format.h>

#include "svg.hpp"

namespace comet {

namespace {

constexpr std::string_view STYLE = R"(
body { font-family: sans-serif; margin: 24px auto; max-width: 1100px; color: #222; line-height: 1.4; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f0f0f0; vertical-align: bottom; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #e8f4e8; font-weight: bold; }
.params { font-family: monospace; font-size: 12px; color: #555; white-space: pre-wrap; }
.advice { background: #f7f9fc; border-left: 4px solid #4e79a7; padding: 8px 14px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
svg.chart { display: block; margin: 8px 0; overflow: visible; }
)";

}  // namespace

std::string html_page(std::string_view title, std::string_view body) {
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<link rel=\"icon\" href=\"data:,\">\n<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
      escape_xml(title), STYLE, body);
}

}  // namespace comet
