// test_io.cpp — .npy and .safetensors reading/writing: round trips of every dtype and rank, and every
// kind of malformed or lying file rejected with ErrorCode::Io and a message naming the problem.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "host/io/aligned_view.hpp"
#include "lowbit/io.hpp"
#include "support/temp_dir_test.hpp"
#include "support/raw_files.hpp"

namespace fs = std::filesystem;
using namespace lowbit;

namespace {

class IoTest : public test::TempDirTest {
 protected:
  static void write_raw(const fs::path& p, const std::string& bytes) { test::write_raw(p, bytes); }
  // A safetensors file from a header text and a data section; header length as given or true.
  fs::path make_st(const std::string& header, const std::string& data, int64_t hlen = -1) {
    fs::path p = file("t.safetensors");
    write_raw(p, test::safetensors_bytes(header, data, hlen));
    return p;
  }
  // An npy 1.0 file from a header dict text and a data section.
  fs::path make_npy(const std::string& dict, const std::string& data) {
    std::string text = dict + "\n";
    fs::path p = file("n.npy");
    write_raw(p, std::string("\x93NUMPY\x01\x00", 8) + char(text.size() & 0xFF) + char(text.size() >> 8) + text + data);
    return p;
  }
  // Expects opening `p` to throw Error(Io) whose message contains `needle`.
  static void expect_st_error(const fs::path& p, const std::string& needle) {
    test::expect_error([&] { io::SafetensorsFile::open(p); }, ErrorCode::Io, {needle});
  }
  static void expect_npy_error(const fs::path& p, const std::string& needle) {
    test::expect_error([&] { io::NpyFile::open(p); }, ErrorCode::Io, {needle});
  }

};

std::vector<uint8_t> iota_bytes(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i * 7 + 3);
  return v;
}

}  // namespace

TEST_F(IoTest, NpyRoundTripsEveryDtypeAndRank) {
  for (DType d : {DType::F32, DType::F16, DType::F64, DType::U8, DType::I8, DType::I32, DType::U32, DType::I64}) {
    for (const Shape& s : {Shape{}, Shape{5}, Shape{2, 3, 4}, Shape{3, 0}}) {
      auto data = iota_bytes(size_t(numel(s)) * dtype_size(d));
      fs::path p = file("a.npy");
      io::write_npy(p, d, s, data);
      io::NpyFile f = io::NpyFile::open(p);
      EXPECT_EQ(f.dtype(), d) << to_string(d);
      EXPECT_EQ(f.shape(), s) << shape_str(s);
      EXPECT_TRUE(std::equal(f.bytes().begin(), f.bytes().end(), data.begin(), data.end()));
    }
  }
}

TEST_F(IoTest, NpyWriterAlignsDataTo64Bytes) {
  io::write_npy(file("a.npy"), DType::F32, {2}, iota_bytes(8));
  EXPECT_EQ((fs::file_size(file("a.npy")) - 8) % 64, 0u);
}

TEST_F(IoTest, NpyReadsVersion2And3Headers) {
  for (char major : {char(2), char(3)}) {
    std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }";
    std::string head = std::string("\x93NUMPY", 6) + major + '\0';
    uint32_t hl = uint32_t(dict.size() + 1);
    for (int i = 0; i < 4; ++i) head += char((hl >> (8 * i)) & 0xFF);
    float v[2] = {1.5f, -2.0f};
    write_raw(file("v.npy"), head + dict + "\n" + std::string(reinterpret_cast<char*>(v), 8));
    io::NpyFile f = io::NpyFile::open(file("v.npy"));
    EXPECT_EQ(f.shape(), (Shape{2, 1}));
    float back[2];
    std::memcpy(back, f.bytes().data(), 8);
    EXPECT_EQ(back[0], 1.5f);
    EXPECT_EQ(back[1], -2.0f);
  }
}

TEST_F(IoTest, NpyRejectsFortranOrder) {
  std::string dict = "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n";
  std::string head = std::string("\x93NUMPY\x01\x00", 8) + char(dict.size()) + '\0';
  write_raw(file("f.npy"), head + dict + std::string(4, '\0'));
  expect_npy_error(file("f.npy"), "fortran_order");
}

TEST_F(IoTest, NpyRejectsTruncatedData) {
  io::write_npy(file("a.npy"), DType::F32, {4, 4}, iota_bytes(64));
  fs::resize_file(file("a.npy"), fs::file_size(file("a.npy")) - 3);
  expect_npy_error(file("a.npy"), "truncated");
}

TEST_F(IoTest, NpyRejectsBadMagicBigEndianAndUnknownDtype) {
  write_raw(file("m.npy"), "hello world, not numpy");
  expect_npy_error(file("m.npy"), "bad magic");
  for (auto [descr, needle] : {std::pair{"'>f4'", "big-endian"}, std::pair{"'<c8'", "unsupported npy dtype"}}) {
    std::string dict = std::string("{'descr': ") + descr + ", 'fortran_order': False, 'shape': (1,), }\n";
    std::string head = std::string("\x93NUMPY\x01\x00", 8) + char(dict.size()) + '\0';
    write_raw(file("d.npy"), head + dict + std::string(8, '\0'));
    expect_npy_error(file("d.npy"), needle);
  }
}

TEST_F(IoTest, NpyRejectsHeaderLengthPastEnd) {
  write_raw(file("h.npy"), std::string("\x93NUMPY\x01\x00\xff\x7f{'descr'", 17));
  expect_npy_error(file("h.npy"), "past the end");
}

TEST_F(IoTest, SafetensorsRoundTripWithMetadata) {
  io::SafetensorsWriter w;
  auto a = iota_bytes(2 * 3 * 4), b = iota_bytes(5);
  w.add("b.weight", DType::F32, {2, 3}, a);
  w.add("a.bias", DType::U8, {5}, b);
  w.add_owned("scalar", DType::F16, {}, {0x00, 0x3C});
  w.add("empty", DType::I32, {0, 4}, {});
  w.set_metadata("format", "pt");
  w.set_metadata("lowbit.format", "mxfp4");
  w.write(file("m.safetensors"));

  io::SafetensorsFile f = io::SafetensorsFile::open(file("m.safetensors"));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("lowbit.format"), "mxfp4");
  ASSERT_EQ(f.tensors().size(), 4u);
  // Laid out by dtype size (largest first), then by name: every tensor aligned to its dtype.
  EXPECT_EQ(f.tensors()[0].name, "b.weight");
  EXPECT_EQ(f.tensors()[1].name, "empty");
  EXPECT_EQ(f.tensors()[2].name, "scalar");
  EXPECT_EQ(f.tensors()[3].name, "a.bias");
  const auto& t = f.at("b.weight");
  EXPECT_EQ(t.dtype, DType::F32);
  EXPECT_EQ(t.shape, (Shape{2, 3}));
  auto bytes = f.bytes(t);
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), a.begin(), a.end()));
  EXPECT_EQ(f.at("scalar").shape, Shape{});
  EXPECT_EQ(f.bytes(f.at("scalar"))[1], 0x3C);
  EXPECT_EQ(f.bytes(f.at("empty")).size(), 0u);
  EXPECT_EQ(f.find("nope"), nullptr);
  EXPECT_THROW(f.at("nope"), Error);
  // Header is padded so that data starts 8-byte aligned.
  auto raw = io::MappedFile::open(file("m.safetensors"));
  uint64_t hlen = 0;
  std::memcpy(&hlen, raw->bytes().data(), 8);
  EXPECT_EQ(hlen % 8, 0u);
}

TEST_F(IoTest, SafetensorsWriterRejectsDuplicatesAndSizeMismatch) {
  io::SafetensorsWriter w;
  auto a = iota_bytes(8);
  w.add("x", DType::F32, {2}, a);
  EXPECT_THROW(w.add("x", DType::F32, {2}, a), Error);
  EXPECT_THROW(w.add("y", DType::F32, {3}, a), Error);
}

TEST_F(IoTest, SafetensorsWriteToMissingFolderFailsWithoutOutput) {
  io::SafetensorsWriter w;
  w.add_owned("x", DType::U8, {1}, {1});
  try {
    w.write(file("no/such/dir/out.safetensors"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Io);
  }
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(IoTest, SafetensorsHeaderLengthPastEnd) {
  expect_st_error(make_st("{}", "", 4096), "past the end of the file");
}

TEST_F(IoTest, SafetensorsHugeHeaderLength) {
  expect_st_error(make_st("{}", "", int64_t(1) << 40), "absurd");
}

TEST_F(IoTest, SafetensorsTooSmall) {
  write_raw(file("s.safetensors"), "abc");
  expect_st_error(file("s.safetensors"), "too small");
}

TEST_F(IoTest, SafetensorsNonJsonHeader) {
  expect_st_error(make_st("this is not json", ""), "not valid JSON");
}

TEST_F(IoTest, SafetensorsOffsetsPastEnd) {
  expect_st_error(make_st(R"({"w":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})", "1234"), "past the end of the data");
}

TEST_F(IoTest, SafetensorsBeginAfterEnd) {
  expect_st_error(make_st(R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[3,1]}})", "1234"), "begin 3 > end 1");
}

TEST_F(IoTest, SafetensorsOverlappingTensors) {
  expect_st_error(make_st(R"({"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},)"
                          R"("b":{"dtype":"U8","shape":[3],"data_offsets":[2,5]}})",
                          "123456"),
                  "overlaps tensor 'a'");
}

TEST_F(IoTest, SafetensorsLengthMismatch) {
  expect_st_error(make_st(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "12345678"),
                  "tensor 'w': byte length 4 does not match");
}

TEST_F(IoTest, SafetensorsUnknownDtype) {
  expect_st_error(make_st(R"({"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", "12345678"),
                  "tensor 'w': unsupported dtype 'C64'");
}

TEST_F(IoTest, SafetensorsNegativeDimension) {
  expect_st_error(make_st(R"({"w":{"dtype":"U8","shape":[-1,4],"data_offsets":[0,4]}})", "1234"),
                  "tensor 'w': negative dimension");
}

TEST_F(IoTest, SafetensorsShapeProductOverflow) {
  expect_st_error(make_st(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})", "1234"),
                  "tensor 'w': shape");
  expect_st_error(make_st(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}})", "1234"),
                  "overflows");
}

TEST_F(IoTest, SafetensorsBadMetadataAndEntries) {
  expect_st_error(make_st(R"({"__metadata__":{"k":1}})", ""), "__metadata__");
  expect_st_error(make_st(R"([1,2])", ""), "not a JSON object");
  expect_st_error(make_st(R"({"w":{"shape":[1],"data_offsets":[0,1]}})", "1"), "'dtype'");
  expect_st_error(make_st(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", "1"), "data_offsets");
}

TEST_F(IoTest, SafetensorsTruncatedFile) {
  io::SafetensorsWriter w;
  w.add_owned("x", DType::F32, {16}, iota_bytes(64));
  w.write(file("t.safetensors"));
  fs::resize_file(file("t.safetensors"), fs::file_size(file("t.safetensors")) - 10);
  expect_st_error(file("t.safetensors"), "past the end of the data");
}

TEST_F(IoTest, QuantizeFileRoundTripOnCpu) {
  Context ctx = Context::create({.backend = Backend::CPU, .device = "", .cache_dir = ""});
  std::vector<float> x(3 * 40);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(float(i)) * 3.0f;
  io::write_npy(file("x.npy"), DType::F32, {3, 40},
                io::Bytes(reinterpret_cast<const uint8_t*>(x.data()), x.size() * 4));
  io::QuantizeFileOptions o;
  o.format = Format::MXFP4;
  o.packed = true;
  io::quantize_file(ctx, file("x.npy"), file("q.safetensors"), o);
  io::SafetensorsFile q = io::SafetensorsFile::open(file("q.safetensors"));
  EXPECT_EQ(q.at("x.codes").shape, (Shape{3, 20}));
  EXPECT_EQ(q.at("x.scales").shape, (Shape{3, 2}));
  EXPECT_EQ(q.metadata().at("lowbit.format"), "mxfp4");
  EXPECT_EQ(q.metadata().at("lowbit.packed"), "true");
  EXPECT_THROW(io::dequantize_file(ctx, file("q.safetensors"), file("b.npy"), Format::NVFP4), Error);
  EXPECT_FALSE(fs::exists(file("b.npy")));
  io::dequantize_file(ctx, file("q.safetensors"), file("b.npy"), Format::MXFP4);
  io::NpyFile b = io::NpyFile::open(file("b.npy"));
  ASSERT_EQ(b.shape(), (Shape{3, 40}));
  const float* y = reinterpret_cast<const float*>(b.bytes().data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i], 0.5f) << i;
}

// ---- untrusted input: overflow behind zero dimensions, duplicate keys, holes, trailing bytes ----------

TEST_F(IoTest, NpyRejectsDimensionThatWrapsAroundUint64) {
  // 2^64 + 4 used to wrap to 4 and match a 4-byte data section.
  expect_npy_error(make_npy("{'descr': '|u1', 'fortran_order': False, 'shape': (18446744073709551620,), }", "abcd"),
                   "dimension too large");
}

TEST_F(IoTest, NpyRejectsAbsurdDimensionsBehindAZero) {
  expect_npy_error(
      make_npy("{'descr': '|u1', 'fortran_order': False, 'shape': (0, 4611686018427387904, 4611686018427387904), }", ""),
      "overflows");
  expect_npy_error(make_npy("{'descr': '|u1', 'fortran_order': False, 'shape': (4611686018427387905, 0), }", ""),
                   "dimension too large");
}

TEST_F(IoTest, NpyRejectsDuplicateHeaderKeys) {
  expect_npy_error(make_npy("{'descr': '<f4', 'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", "abcd"),
                   "duplicate header key 'descr'");
}

TEST_F(IoTest, NpyRejectsTextAfterTheHeaderDict) {
  expect_npy_error(make_npy("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), } 'shape': (2,)", "abcd"),
                   "after the header dict");
  io::NpyFile ok = io::NpyFile::open(make_npy(std::string("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }  ") + '\0', "abcd"));
  EXPECT_EQ(ok.shape(), Shape{4});
}

TEST_F(IoTest, SafetensorsRejectsDuplicateTensorNames) {
  expect_st_error(make_st(R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                          R"("w":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                          "1234"),
                  "duplicate key 'w'");
}

TEST_F(IoTest, SafetensorsRejectsDuplicateKeysInsideAnEntry) {
  expect_st_error(make_st(R"({"w":{"dtype":"F32","dtype":"U8","shape":[4],"data_offsets":[0,4]}})", "1234"),
                  "duplicate key 'dtype' in 'w'");
  expect_st_error(make_st(R"({"w":{"dtype":"U8","shape":[4],"shape":[2],"data_offsets":[0,4]}})", "1234"),
                  "duplicate key 'shape' in 'w'");
}

TEST_F(IoTest, SafetensorsRejectsDuplicateMetadataKeys) {
  expect_st_error(make_st(R"({"__metadata__":{"lowbit.format":"e4m3","lowbit.format":"mxfp4"}})", ""),
                  "duplicate key 'lowbit.format' in '__metadata__'");
  expect_st_error(make_st(R"({"__metadata__":{},"__metadata__":{}})", ""), "duplicate key '__metadata__'");
}

TEST_F(IoTest, SafetensorsRejectsAbsurdNesting) {
  expect_st_error(make_st("{\"__metadata__\":" + std::string(1000, '[') + std::string(1000, ']') + "}", ""),
                  "nested deeper");
}

TEST_F(IoTest, SafetensorsRejectsHolesInTheDataSection) {
  expect_st_error(make_st(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                          R"("b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}})",
                          "12345"),
                  "tensor 'b': data starts at 3, but the previous tensor ends at 2");
  expect_st_error(make_st(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", "123"),
                  "tensor 'a': data starts at 1, but the previous tensor ends at 0");
}

TEST_F(IoTest, SafetensorsRejectsTrailingBytes) {
  expect_st_error(make_st(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "1234"),
                  "2 bytes after the last tensor");
  expect_st_error(make_st(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}})", "1"),
                  "1 bytes after the last tensor");
}

TEST_F(IoTest, SafetensorsAcceptsEmptyTensorsAnywhere) {
  io::SafetensorsFile f = io::SafetensorsFile::open(
      make_st(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[1,1]},)"
              R"("b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"z":{"dtype":"U8","shape":[0],"data_offsets":[4,4]}})",
              "1234"));
  EXPECT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.bytes(f.at("b"))[0], '3');
  EXPECT_EQ(f.bytes(f.at("e")).size(), 0u);
}

TEST_F(IoTest, SafetensorsRejectsAbsurdDimensionsBehindAZero) {
  expect_st_error(make_st(R"({"w":{"dtype":"U8","shape":[0,4611686018427387904,4611686018427387904],"data_offsets":[0,0]}})", ""),
                  "tensor 'w': shape");
  expect_st_error(make_st(R"({"w":{"dtype":"U8","shape":[4611686018427387905,0],"data_offsets":[0,0]}})", ""),
                  "overflows");
}

// A hand-written e4m3 file of one tensor "x" [4] whose metadata the test chooses.
class DequantizeMetadataTest : public IoTest {
 protected:
  fs::path write_e4m3(const std::string& tensors_meta, const std::string& packed = "false") {
    test::RawSafetensors st;
    st.add("x", "U8", {4}, std::vector<uint8_t>{0x38, 0x40, 0xB8, 0x00});
    st.set_metadata(io::kMetaFormat, "e4m3");
    st.set_metadata(io::kMetaPacked, packed);
    st.set_metadata(io::kMetaTensors, tensors_meta);
    fs::path p = file("q.safetensors");
    st.write(p);
    return p;
  }
  void dequantize(const fs::path& p) {
    Context ctx = Context::create({.backend = Backend::CPU, .device = "", .cache_dir = ""});
    io::dequantize_file(ctx, p, file("out.npy"), Format::E4M3);
  }
};

TEST_F(DequantizeMetadataTest, ReadsAWellFormedFile) {
  dequantize(write_e4m3(R"({"x":{"shape":[4],"dtype":"F32"}})"));
  io::NpyFile y = io::NpyFile::open(file("out.npy"));
  float v[4];
  std::memcpy(v, y.bytes().data(), 16);
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[2], -1.0f);
}

TEST_F(DequantizeMetadataTest, RejectsDuplicateTensorKeys) {
  fs::path p = write_e4m3(R"({"x":{"shape":[4],"dtype":"F32"},"x":{"shape":[2,2],"dtype":"F32"}})");
  test::expect_error([&] { dequantize(p); }, ErrorCode::Io, {p.string(), "lowbit.tensors", "duplicate key 'x'"});
  EXPECT_FALSE(fs::exists(file("out.npy")));
}

TEST_F(DequantizeMetadataTest, RejectsAbsurdShapesBehindAZero) {
  fs::path p = write_e4m3(R"({"x":{"shape":[0,4611686018427387904,4611686018427387904],"dtype":"F32"}})");
  test::expect_error([&] { dequantize(p); }, ErrorCode::Io, {p.string(), "lowbit.tensors", "'x'", "overflows"});
}

TEST_F(DequantizeMetadataTest, RejectsMistypedMetadata) {
  for (const char* meta : {R"(not json)", R"([1])", R"({"x":5})", R"({"x":{"shape":"4"}})", R"({"x":{"shape":[-4]}})",
                           R"({"x":{"shape":[4.5]}})"}) {
    fs::path p = write_e4m3(meta);
    test::expect_error([&] { dequantize(p); }, ErrorCode::Io, {p.string(), "lowbit.tensors"});
  }
  fs::path p = write_e4m3(R"({"x":{"shape":[4],"dtype":"F32"}})", "yes");
  test::expect_error([&] { dequantize(p); }, ErrorCode::Io, {p.string(), "lowbit.packed"});
}

TEST_F(IoTest, AlignedViewOfBytesAtAnOddAddressIsAlignedAndEqual) {
  std::vector<uint8_t> raw(1 + 3 * 4);
  const int32_t values[3] = {-7, 1 << 30, 42};
  std::memcpy(raw.data() + 1, values, sizeof values);
  io::AlignedView<int32_t> v(io::Bytes(raw.data() + 1, 12));
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % alignof(int32_t), 0u);
  EXPECT_EQ(v.data()[0], -7);
  EXPECT_EQ(v.data()[1], 1 << 30);
  EXPECT_EQ(v.data()[2], 42);
  io::AlignedView<int32_t> moved(std::move(v));
  EXPECT_EQ(moved.data()[2], 42);
  alignas(4) uint8_t aligned[8] = {1, 0, 0, 0, 2, 0, 0, 0};
  io::AlignedView<int32_t> direct(io::Bytes(aligned, 8));
  EXPECT_EQ(static_cast<const void*>(direct.data()), static_cast<const void*>(aligned));  // no copy when aligned
}
