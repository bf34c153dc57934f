// The web chat page embedded into the binary (web/embed.cmake): each asset is byte for byte the
// file it came from, text has a charset, and every local file the page refers to is embedded.
#ifdef CORELM_HAVE_SERVER

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "web_assets.h"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

const corelm::web::Asset* find(std::string_view path) {
  for (const auto& asset : corelm::web::assets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

const std::string kWeb = std::string(CORELM_SOURCE_DIR) + "/web/";

TEST(WebAssets, PageFilesAreEmbeddedByteForByte) {
  const std::pair<const char*, const char*> files[] = {
      {"/", "index.html"}, {"/app.js", "app.js"}, {"/style.css", "style.css"}};
  for (const auto& [path, name] : files) {
    const auto* asset = find(path);
    ASSERT_NE(asset, nullptr) << path;
    EXPECT_EQ(asset->body, read_file(kWeb + name)) << path;
  }
  EXPECT_EQ(find("/")->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(find("/app.js")->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(find("/style.css")->content_type, "text/css; charset=utf-8");
}

TEST(WebAssets, DebianLibrariesAreEmbeddedWhenInstalled) {
  const std::pair<const char*, const char*> libraries[] = {
      {"/marked.min.js", "/usr/share/javascript/marked/marked.min.js"},
      {"/purify.min.js", "/usr/share/nodejs/dompurify/dist/purify.min.js"}};
  for (const auto& [path, file] : libraries) {
    const auto* asset = find(path);
    ASSERT_NE(asset, nullptr) << path;  // a stub when the library was missing at build time
    EXPECT_EQ(asset->content_type, "text/javascript; charset=utf-8");
    if (std::filesystem::exists(file)) {
      EXPECT_EQ(asset->body, read_file(file)) << path;
    } else {
      EXPECT_NE(asset->body.find("was not found"), std::string_view::npos) << asset->body;
    }
  }
}

TEST(WebAssets, EveryLocalReferenceOfThePageIsEmbeddedAndPathsAreUnique) {
  const std::string html = read_file(kWeb + "index.html");
  const std::regex reference(R"re((?:src|href)="(/[^"]*)")re");
  int count = 0;
  for (std::sregex_iterator it(html.begin(), html.end(), reference), end; it != end; ++it) {
    EXPECT_NE(find((*it)[1].str()), nullptr) << (*it)[1].str();
    ++count;
  }
  EXPECT_EQ(count, 4);  // style.css, marked.min.js, purify.min.js, app.js
  std::set<std::string_view> paths;
  for (const auto& asset : corelm::web::assets()) {
    EXPECT_TRUE(paths.insert(asset.path).second) << asset.path;
  }
  EXPECT_EQ(paths.size(), 5u);
}

}  // namespace

#endif  // CORELM_HAVE_SERVER
