#include <gtest/gtest.h>

#include <filesystem>

#include "base/atomic_file.h"
#include "base/file_util.h"
#include "corelm/error.h"
#include "test_support.h"

namespace corelm {
namespace {

namespace fs = std::filesystem;

TEST(AtomicFile, NothingAppearsUntilCommit) {
  std::string path = test::temp_dir() + "/atomic.bin";
  {
    AtomicFile f(path, "test");
    f.write("abc", 3);
    EXPECT_FALSE(fs::exists(path));
    EXPECT_TRUE(fs::exists(f.temp_path()));
    f.commit();
  }
  EXPECT_EQ(read_file(path, "test"), "abc");
}

TEST(AtomicFile, AbandonedWriteLeavesNothing) {
  std::string path = test::temp_dir() + "/abandoned.bin";
  std::string temp;
  {
    AtomicFile f(path, "test");
    temp = f.temp_path();
    f.write("partial", 7);
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(temp));
}

TEST(AtomicFile, MissingFolderIsAClearError) {
  test::expect_error([] { AtomicFile f("/nonexistent-folder/x.bin", "test"); }, ErrorCode::kIo,
                     "[test] cannot create", "test");
}

}  // namespace
}  // namespace corelm
