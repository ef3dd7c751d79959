// test_output_files.cpp — how lowbit writes output files: an interrupted writer (a real process killed by
// SIGINT/SIGTERM) leaves no temp file and the old output intact, .safetensors outputs are streamed
// tensor by tensor with every tensor aligned to its dtype and no holes, an output that would overwrite an
// input is refused before any work, and file conversions report progress after each tensor.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "host/io/atomic_file.hpp"
#include "lowbit/checkpoint.hpp"
#include "lowbit/io.hpp"
#include "support/temp_dir_test.hpp"

namespace fs = std::filesystem;
using namespace lowbit;

namespace {

class OutputFilesTest : public test::TempDirTest {
 protected:
  std::vector<std::string> folder_listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  static std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  }
  static void spit(const fs::path& p, const std::string& s) {
    std::ofstream(p, std::ios::binary).write(s.data(), std::streamsize(s.size()));
  }
  // An .npy of float32 [rows, cols] with smooth values.
  fs::path make_npy(const std::string& name, int64_t rows, int64_t cols) {
    std::vector<float> x(size_t(rows * cols));
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(float(i) * 0.37f) * 3.0f;
    io::write_npy(file(name), DType::F32, {rows, cols}, io::Bytes(reinterpret_cast<const uint8_t*>(x.data()), x.size() * 4));
    return file(name);
  }

};

// Forks a child that starts writing `target` (temp of kind `kind`), writes some bytes, tells the parent,
// and waits to be killed; the parent sends `sig` and returns the child's wait status.
int kill_writer_midway(const fs::path& target, io::AtomicFile::Temp kind, int sig) {
  int ready[2];
  if (::pipe(ready) != 0) return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    try {
      io::AtomicFile out(target, kind);
      std::vector<char> chunk(1 << 16, 'n');
      out.write(chunk.data(), chunk.size());
      char c = 1;
      if (::write(ready[1], &c, 1) != 1) ::_exit(3);
      for (;;) ::pause();
    } catch (...) {
      ::_exit(4);
    }
  }
  ::close(ready[1]);
  char c = 0;
  ssize_t n = ::read(ready[0], &c, 1);
  ::close(ready[0]);
  ::kill(pid, sig);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return n == 1 ? status : -1;
}

}  // namespace

TEST_F(OutputFilesTest, KilledWriterLeavesNoTempFileAndTheOldOutputIntact) {
  for (auto kind : {io::AtomicFile::Temp::Named, io::AtomicFile::Temp::Unnamed}) {
    for (int sig : {SIGINT, SIGTERM}) {
      spit(file("out.bin"), "the old output");
      int status = kill_writer_midway(file("out.bin"), kind, sig);
      ASSERT_TRUE(WIFSIGNALED(status)) << "the writer must die by the signal, status " << status;
      EXPECT_EQ(WTERMSIG(status), sig);
      EXPECT_EQ(folder_listing(), std::vector<std::string>{"out.bin"}) << "signal " << sig;
      EXPECT_EQ(slurp(file("out.bin")), "the old output");
    }
  }
}

TEST_F(OutputFilesTest, AtomicFileCommitReplacesTheTargetAndLeavesNothingElse) {
  for (auto kind : {io::AtomicFile::Temp::Named, io::AtomicFile::Temp::Unnamed}) {
    spit(file("out.bin"), "old");
    {
      io::AtomicFile out(file("out.bin"), kind);
      out.write("new bytes", 9);
      EXPECT_EQ(slurp(file("out.bin")), "old") << "the target is untouched until commit";
      out.commit();
    }
    EXPECT_EQ(slurp(file("out.bin")), "new bytes");
    EXPECT_EQ(folder_listing(), std::vector<std::string>{"out.bin"});
    {
      io::AtomicFile abandoned(file("out.bin"), kind);
      abandoned.write("partial", 7);
    }
    EXPECT_EQ(slurp(file("out.bin")), "new bytes");
    EXPECT_EQ(folder_listing(), std::vector<std::string>{"out.bin"});
  }
}

TEST_F(OutputFilesTest, SafetensorsWriterAlignsEveryTensorToItsDtypeWithoutHoles) {
  io::SafetensorsWriter w;
  std::vector<uint8_t> odd(7, 1), f16(6, 2), f32(12, 3), f64(8, 4), u8b(3, 5);
  w.add("a.codes", DType::U8, {7}, odd);
  w.add("a.scales", DType::F16, {3}, f16);
  w.add("b", DType::F32, {3}, f32);
  w.add("c", DType::F64, {1}, f64);
  w.add("d", DType::U8, {3}, u8b);
  w.write(file("m.safetensors"));
  std::string raw = slurp(file("m.safetensors"));
  uint64_t hlen = 0;
  std::memcpy(&hlen, raw.data(), 8);
  auto h = nlohmann::json::parse(raw.substr(8, hlen));
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto& [name, e] : h.items()) {
    if (name == "__metadata__") continue;
    uint64_t b = e["data_offsets"][0], end = e["data_offsets"][1];
    size_t size = dtype_size(io::parse_safetensors_dtype(e["dtype"]));
    EXPECT_EQ(b % size, 0u) << name << " starts at " << b << ", not a multiple of its dtype size " << size;
    EXPECT_EQ((8 + hlen + b) % size, 0u) << name << " is misaligned in the file";
    ranges.push_back({b, end});
  }
  std::sort(ranges.begin(), ranges.end());
  uint64_t at = 0;
  for (auto [b, e] : ranges) {
    EXPECT_EQ(b, at) << "hole or overlap in the data section";
    at = e;
  }
  EXPECT_EQ(8 + hlen + at, raw.size()) << "trailing bytes after the data";
  io::SafetensorsFile f = io::SafetensorsFile::open(file("m.safetensors"));
  EXPECT_TRUE(std::ranges::equal(f.bytes(f.at("a.codes")), odd));
  EXPECT_TRUE(std::ranges::equal(f.bytes(f.at("a.scales")), f16));
  EXPECT_TRUE(std::ranges::equal(f.bytes(f.at("c")), f64));
}

TEST_F(OutputFilesTest, SafetensorsWriterProducesLazyTensorsOnceInTheOrderAdded) {
  io::SafetensorsWriter w;
  std::vector<std::string> calls;
  auto producer = [&calls](std::string name, uint8_t value, size_t n) {
    return [&calls, name, value, n](const io::SafetensorsWriter::Sink& sink) {
      calls.push_back(name);
      std::vector<uint8_t> half(n / 2, value), rest(n - n / 2, value);
      sink(half);  // a tensor may arrive in several pieces
      sink(rest);
    };
  };
  w.add_lazy("z.codes", DType::U8, {5}, producer("z.codes", 7, 5));
  w.add_lazy("z.scales", DType::F32, {2}, producer("z.scales", 9, 8));
  w.add_lazy("a", DType::U8, {3}, producer("a", 1, 3));
  std::vector<ProgressEvent> events;
  w.write(file("lazy.safetensors"), [&](const ProgressEvent& e) { events.push_back(e); });
  EXPECT_EQ(calls, (std::vector<std::string>{"z.codes", "z.scales", "a"}));
  io::SafetensorsFile f = io::SafetensorsFile::open(file("lazy.safetensors"));
  EXPECT_TRUE(std::ranges::equal(f.bytes(f.at("z.codes")), std::vector<uint8_t>(5, 7)));
  EXPECT_TRUE(std::ranges::equal(f.bytes(f.at("z.scales")), std::vector<uint8_t>(8, 9)));
  EXPECT_TRUE(std::ranges::equal(f.bytes(f.at("a")), std::vector<uint8_t>(3, 1)));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].item, "z.codes");
  EXPECT_EQ(events[2].done, 3u);
  EXPECT_EQ(events[2].total, 3u);
  EXPECT_EQ(events[2].bytes_done, 16u);
  EXPECT_EQ(events[2].bytes_total, 16u);
}

TEST_F(OutputFilesTest, SafetensorsWriterRejectsAProducerThatWritesTheWrongSize) {
  for (size_t wrong : {3u, 5u}) {
    io::SafetensorsWriter w;
    w.add_lazy("x", DType::F32, {1}, [wrong](const io::SafetensorsWriter::Sink& sink) {
      sink(std::vector<uint8_t>(wrong, 0));
    });
    try {
      w.write(file("bad.safetensors"));
      FAIL() << "a producer of " << wrong << " bytes for a 4-byte tensor was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(fs::is_empty(dir_));
  }
}

TEST_F(OutputFilesTest, ConvertRefusesAnOutputThatIsTheInput) {
  Context ctx = Context::create({.backend = Backend::CPU, .device = "", .cache_dir = ""});
  fs::path in = make_npy("x.npy", 4, 64);
  io::QuantizeFileOptions o;
  o.format = Format::MXFP4;
  io::quantize_file(ctx, in, file("q.safetensors"), o);
  std::string q_bytes = slurp(file("q.safetensors"));
  fs::create_symlink(file("q.safetensors"), file("link.safetensors"));
  fs::create_hard_link(file("q.safetensors"), file("hard.safetensors"));
  fs::path dotted = dir_ / "." / "q.safetensors";
  for (const fs::path& out : {file("q.safetensors"), file("link.safetensors"), file("hard.safetensors"), dotted}) {
    try {
      io::quantize_file(ctx, file("q.safetensors"), out, o);
      FAIL() << "quantize_file overwrote its input through " << out;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("would overwrite the input"), std::string::npos) << e.what();
    }
    EXPECT_THROW(io::dequantize_file(ctx, file("q.safetensors"), out, Format::MXFP4), Error) << out;
    EXPECT_THROW(io::check_convert_paths(file("q.safetensors"), out, false), Error) << out;
    EXPECT_EQ(slurp(file("q.safetensors")), q_bytes) << "input changed through " << out;
  }
}

TEST_F(OutputFilesTest, PackRefusesToOverwriteTheInputOrAFileOfTheModelDirectory) {
  io::SafetensorsWriter w;
  std::vector<float> wt(32 * 64, 0.25f);
  w.add("l0.weight", DType::F32, {32, 64}, io::Bytes(reinterpret_cast<const uint8_t*>(wt.data()), wt.size() * 4));
  fs::create_directories(file("model"));
  w.write(file("model/model.safetensors"));
  std::string before = slurp(file("model/model.safetensors"));
  ckpt::PackOptions o;
  o.group = 32;
  for (auto [in, out] : {std::pair{file("model/model.safetensors"), file("model/model.safetensors")},
                         std::pair{file("model"), file("model/model.safetensors")},
                         std::pair{file("model"), file("model/../model/./model.safetensors")}}) {
    try {
      ckpt::pack_checkpoint(in, out, o);
      FAIL() << "pack overwrote " << out;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("would overwrite the input"), std::string::npos) << e.what();
    }
    EXPECT_EQ(slurp(file("model/model.safetensors")), before);
  }
  ckpt::pack_checkpoint(file("model"), file("packed.safetensors"), o);  // a new file is fine
}

TEST_F(OutputFilesTest, OutputFolderIsCheckedBeforeTheInputIsRead) {
  Context ctx = Context::create({.backend = Backend::CPU, .device = "", .cache_dir = ""});
  io::QuantizeFileOptions o;
  // The input does not exist: a missing output folder must be the error reported, found first.
  try {
    io::quantize_file(ctx, file("missing.npy"), file("no/such/dir/q.safetensors"), o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no/such/dir"), std::string::npos) << e.what();
  }
  try {
    ckpt::pack_checkpoint(file("missing.safetensors"), file("no/such/dir/p.safetensors"), {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no/such/dir"), std::string::npos) << e.what();
  }
}

TEST_F(OutputFilesTest, ConversionsReportProgressAfterEachTensor) {
  Context ctx = Context::create({.backend = Backend::CPU, .device = "", .cache_dir = ""});
  io::SafetensorsWriter w;
  std::vector<float> a(3 * 40, 1.5f), b(50, -2.0f);
  std::vector<uint8_t> ids(5, 9);
  w.add("a", DType::F32, {3, 40}, io::Bytes(reinterpret_cast<const uint8_t*>(a.data()), a.size() * 4));
  w.add("b", DType::F32, {50}, io::Bytes(reinterpret_cast<const uint8_t*>(b.data()), b.size() * 4));
  w.add("ids", DType::U8, {5}, ids);
  w.write(file("in.safetensors"));

  std::vector<ProgressEvent> q_events, d_events;
  io::QuantizeFileOptions o;
  o.format = Format::NVFP4;
  o.progress = [&](const ProgressEvent& e) { q_events.push_back(e); };
  io::quantize_file(ctx, file("in.safetensors"), file("q.safetensors"), o);
  // a and b: codes, scales, tensor_scale each; ids copied
  ASSERT_EQ(q_events.size(), 7u);
  for (size_t i = 0; i < q_events.size(); ++i) {
    EXPECT_EQ(q_events[i].done, i + 1);
    EXPECT_EQ(q_events[i].total, 7u);
    if (i) {
      EXPECT_GT(q_events[i].bytes_done, q_events[i - 1].bytes_done);
    }
  }
  EXPECT_EQ(q_events.back().bytes_done, q_events.back().bytes_total);
  EXPECT_EQ(q_events[0].item, "a.codes");

  io::DequantizeFileOptions d;
  d.format = Format::NVFP4;
  d.progress = [&](const ProgressEvent& e) { d_events.push_back(e); };
  io::dequantize_file(ctx, file("q.safetensors"), file("back.safetensors"), d);
  ASSERT_EQ(d_events.size(), 3u);
  EXPECT_EQ(d_events.back().bytes_done, uint64_t(a.size() * 4 + b.size() * 4 + 5));

  std::vector<ProgressEvent> p_events;
  ckpt::PackOptions po;
  po.group = 40;
  po.layers_regex = "a";
  io::SafetensorsWriter m;
  m.add("a.weight", DType::F32, {3, 40}, io::Bytes(reinterpret_cast<const uint8_t*>(a.data()), a.size() * 4));
  m.add("norm", DType::F32, {50}, io::Bytes(reinterpret_cast<const uint8_t*>(b.data()), b.size() * 4));
  m.write(file("model.safetensors"));
  po.progress = [&](const ProgressEvent& e) { p_events.push_back(e); };
  ckpt::pack_checkpoint(file("model.safetensors"), file("packed.safetensors"), po);
  ASSERT_EQ(p_events.size(), 3u);  // a.qweight, a.scales, norm
  EXPECT_EQ(p_events.back().done, 3u);
  EXPECT_EQ(p_events.back().bytes_done, p_events.back().bytes_total);
}
