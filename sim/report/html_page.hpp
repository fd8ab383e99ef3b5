// The frame of a self-contained HTML report: one file, inline CSS, no scripts and nothing
// fetched from the network (the favicon is a data: URL), so it opens offline and in
// sandboxed viewers exactly as written.
#pragma once

#include <string>
#include <string_view>

namespace comet {

/// A complete HTML document with `title` and `body` (body is inserted as is).
std::string html_page(std::string_view title, std::string_view body);

}  // namespace comet
