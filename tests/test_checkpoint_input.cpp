// test_checkpoint_input.cpp — checkpoints lowbit did not write and cannot trust: tensors at odd
// addresses (read correctly), lying or mistyped `lowbit.layers` metadata and config json, the same tensor
// in two shards, and an index json that disagrees with its shards; every one an Error(Io) naming the file
// and the key or tensor, never a JSON library exception.
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <filesystem>

#include "lowbit/checkpoint.hpp"
#include "lowbit_formats.h"
#include "support/raw_files.hpp"
#include "support/temp_dir_test.hpp"
#include "support/w4_checkpoints.hpp"

namespace fs = std::filesystem;
using namespace lowbit;

namespace {

float h2f(uint16_t h) { return std::bit_cast<float>(fmt::lb_f16_to_f32(h)); }

class CheckpointInput : public test::TempDirTest {
 protected:
  // GPTQ v1 layer "L" (N 16, K 64, group 32) behind a 3-byte U8 tensor: every I32/F16 tensor starts at
  // an odd offset, which is how a valid file written by another tool may lay them out.
  test::KnownW4 write_misaligned_gptq(const fs::path& p) {
    test::KnownW4 w = test::make_known(16, 64, 32, false, 1, 16, 7);
    std::vector<int32_t> qw, qz;
    test::write_gptq(w, 1, qw, qz);
    test::RawSafetensors st;
    st.add("a.pad", "U8", {3}, std::vector<uint8_t>{1, 2, 3});
    st.add("L.qweight", "I32", {w.k / 8, w.n}, qw);
    st.add("L.qzeros", "I32", {w.k / w.group, w.n / 8}, qz);
    st.add("L.scales", "F16", {w.k / w.group, w.n}, w.scale);
    st.add("L.g_idx", "I32", {w.k}, w.g_idx);
    for (const char* t : {"L.qweight", "L.qzeros", "L.scales", "L.g_idx"}) EXPECT_EQ(st.offset_of(t) % 2, 1u) << t;
    st.write(p);
    return w;
  }

  // A lowbit layer "L" (N 8, K 64, group 32, asymmetric, act_order) written by hand with every tensor
  // at an odd offset, and `layers` as its lowbit.layers metadata (absent when empty).
  W4Host write_lowbit(const fs::path& p, const std::string& layers) {
    test::KnownW4 w = test::make_known(8, 64, 32, true, 0, 15, 11);
    std::vector<int32_t> qw, qz;
    test::write_gptq(w, 2, qw, qz);
    W4Host h = import_gptq({qw.data(), qz.data(), w.scale.data(), w.g_idx.data(), w.k, w.n, 32, 2, false});
    test::RawSafetensors st;
    st.add("a.pad", "U8", {1}, std::vector<uint8_t>{0});
    st.add("L.qweight", "U32", {h.k_words(), h.n}, h.qweight);
    st.add("L.scales", "F16", {h.groups(), h.n}, h.scales);
    st.add("L.qzeros", "U8", {h.groups(), h.n}, h.zeros);
    st.add("L.perm", "I32", {h.k}, h.perm);
    for (const char* t : {"L.qweight", "L.scales", "L.perm"}) EXPECT_EQ(st.offset_of(t) % 2, 1u) << t;
    st.set_metadata("lowbit.scheme", "w4a16");
    if (!layers.empty()) st.set_metadata("lowbit.layers", layers);
    st.write(p);
    return h;
  }

  // A float model shard: tensors named in `names`, each F32 [2, 32] (RTN-packable).
  void write_shard(const fs::path& p, std::initializer_list<const char*> names) {
    test::RawSafetensors st;
    for (const char* n : names) st.add(n, "F32", {2, 32}, std::vector<float>(64, 0.25f));
    st.write(p);
  }
  void write_text(const std::string& name, const std::string& text) { test::write_raw(file(name), text); }
  void pack_dir() {  // into an existing folder: pack checks its output location before reading the input
    fs::create_directories(file("out"));
    ckpt::pack_checkpoint(dir_, file("out") / "packed.safetensors", {});
  }

};

constexpr const char* kGoodLayers = R"({"L":{"n":8,"k":64,"group":32,"sym":false,"act_order":true}})";

}  // namespace

TEST_F(CheckpointInput, GptqLayerWhoseTensorsStartAtOddAddressesLoadsExactly) {
  test::KnownW4 w = write_misaligned_gptq(file("model.safetensors"));
  write_text("quantize_config.json", R"({"bits":4,"group_size":32,"sym":false,"model_name_or_path":null})");
  ckpt::LoadedLayer l = ckpt::load_layer(file("model.safetensors"), "L");
  ASSERT_EQ(l.w.n, 16);
  ASSERT_EQ(l.w.k, 64);
  auto deq = dequantize_w4(l.w);
  for (int64_t n = 0; n < w.n; ++n)
    for (int64_t k = 0; k < w.k; ++k) ASSERT_EQ(deq[size_t(n * w.k + k)], w.weight(n, k, h2f)) << n << "," << k;
}

TEST_F(CheckpointInput, LowbitLayerWhoseTensorsStartAtOddAddressesLoadsExactly) {
  W4Host h = write_lowbit(file("w4.safetensors"), kGoodLayers);
  ckpt::LoadedLayer l = ckpt::load_layer(file("w4.safetensors"), "L");
  EXPECT_EQ(l.w.qweight, h.qweight);
  EXPECT_EQ(l.w.scales, h.scales);
  EXPECT_EQ(l.w.zeros, h.zeros);
  EXPECT_EQ(l.w.perm, h.perm);
}

TEST_F(CheckpointInput, BadLowbitLayersMetadataIsAnIoErrorNamingFileAndKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"not json", "not valid JSON"},
      {"[1]", "not a JSON object"},
      {R"({"M":{}})", "no entry for layer 'L'"},
      {R"({"L":5})", "'L' is not an object"},
      {R"({"L":{"n":"8","k":64,"group":32,"sym":false}})", "'n'"},
      {R"({"L":{"n":-8,"k":64,"group":32,"sym":false}})", "'n'"},
      {R"({"L":{"n":8,"k":1099511627776,"group":32,"sym":false}})", "'k'"},
      {R"({"L":{"n":8,"k":64,"group":0,"sym":false}})", "'group'"},
      {R"({"L":{"n":8,"k":64,"group":48,"sym":false}})", "'group'"},
      {R"({"L":{"n":8,"k":64,"group":32.5,"sym":false}})", "'group'"},
      {R"({"L":{"n":8,"k":64,"group":32}})", "'sym'"},
      {R"({"L":{"n":8,"k":64,"group":32,"sym":"false"}})", "'sym'"},
      {R"({"L":{"n":8,"k":64,"group":32,"sym":false,"act_order":false}})", "'act_order'"},
      {R"({"L":{"n":8,"k":64,"group":32,"sym":false,"n":16}})", "duplicate key 'n' in 'L'"},
      {"", "lowbit.layers"},
  };
  for (auto [layers, needle] : cases) {
    fs::path p = file("w4.safetensors");
    write_lowbit(p, layers);
    SCOPED_TRACE(layers);
    test::expect_error([&] { ckpt::load_layer(p, "L"); }, ErrorCode::Io, {p.string(), "lowbit.layers", needle});
  }
}

TEST_F(CheckpointInput, TensorInTwoShardsIsRejectedWithoutAnIndex) {
  write_shard(file("a.safetensors"), {"l0.weight", "x"});
  write_shard(file("b.safetensors"), {"x"});
  test::expect_error([&] { pack_dir(); }, ErrorCode::Io, {"'x'", "a.safetensors", "b.safetensors"});
}

TEST_F(CheckpointInput, TensorInTwoShardsIsRejectedWithAnIndex) {
  write_shard(file("a.safetensors"), {"l0.weight", "x"});
  write_shard(file("b.safetensors"), {"x", "l1.weight"});
  write_text("model.safetensors.index.json",
             R"({"weight_map":{"l0.weight":"a.safetensors","x":"a.safetensors","l1.weight":"b.safetensors"}})");
  test::expect_error([&] { pack_dir(); }, ErrorCode::Io, {"'x'", "a.safetensors", "b.safetensors"});
}

TEST_F(CheckpointInput, IndexThatMapsATensorToAShardWithoutItIsRejected) {
  write_shard(file("a.safetensors"), {"l0.weight"});
  write_shard(file("b.safetensors"), {"l1.weight"});
  write_text("model.safetensors.index.json",
             R"({"weight_map":{"l0.weight":"a.safetensors","l1.weight":"a.safetensors","x":"b.safetensors"}})");
  test::expect_error([&] { pack_dir(); }, ErrorCode::Io, {"model.safetensors.index.json", "'l1.weight'", "a.safetensors"});
}

TEST_F(CheckpointInput, ShardTensorTheIndexDoesNotListIsRejected) {
  write_shard(file("a.safetensors"), {"l0.weight", "stray"});
  write_text("model.safetensors.index.json", R"({"weight_map":{"l0.weight":"a.safetensors"}})");
  test::expect_error([&] { pack_dir(); }, ErrorCode::Io, {"model.safetensors.index.json", "'stray'", "a.safetensors"});
}

TEST_F(CheckpointInput, IndexWithDuplicateKeysOrFilesOutsideTheDirectoryIsRejected) {
  write_shard(file("a.safetensors"), {"l0.weight"});
  write_text("model.safetensors.index.json",
             R"({"weight_map":{"l0.weight":"a.safetensors","l0.weight":"b.safetensors"}})");
  test::expect_error([&] { pack_dir(); }, ErrorCode::Io, {"model.safetensors.index.json", "duplicate key 'l0.weight'"});
  write_text("model.safetensors.index.json", R"({"weight_map":{"l0.weight":"../a.safetensors"}})");
  test::expect_error([&] { pack_dir(); }, ErrorCode::Io, {"model.safetensors.index.json", "outside"});
  write_text("model.safetensors.index.json", R"({"weight_map":{"l0.weight":"/etc/a.safetensors"}})");
  test::expect_error([&] { pack_dir(); }, ErrorCode::Io, {"model.safetensors.index.json", "outside"});
}

TEST_F(CheckpointInput, ConsistentShardsWithAnIndexPack) {
  write_shard(file("a.safetensors"), {"l0.weight", "x"});
  write_shard(file("b.safetensors"), {"l1.weight"});
  write_text("model.safetensors.index.json", R"({"metadata":{"total_size":768},)"
                                             R"("weight_map":{"l0.weight":"a.safetensors","x":"./a.safetensors","l1.weight":"b.safetensors"}})");
  fs::create_directories(file("out"));
  ckpt::PackReport r = ckpt::pack_checkpoint(dir_, file("out") / "packed.safetensors", {.group = 32});
  EXPECT_EQ(r.layers, (std::vector<std::string>{"l0", "l1"}));
  EXPECT_EQ(r.copied, (std::vector<std::string>{"x"}));
}

TEST_F(CheckpointInput, MistypedConfigJsonIsAnIoErrorNamingFileAndKey) {
  write_misaligned_gptq(file("model.safetensors"));
  const std::pair<const char*, const char*> quantize_config[] = {
      {R"({"bits":"4"})", "'bits'"},
      {R"({"bits":4.0})", "'bits'"},
      {R"({"group_size":"32"})", "'group_size'"},
      {R"({"group_size":1099511627776})", "'group_size'"},
      {R"({"sym":"no"})", "'sym'"},
      {R"({"checkpoint_format":2})", "'checkpoint_format'"},
      {R"({"quant_method":["gptq"]})", "'quant_method'"},
      {R"({"bits":4,"bits":8})", "duplicate key 'bits'"},
      {R"({"bits":4)", "not valid JSON"},
  };
  for (auto [text, needle] : quantize_config) {
    SCOPED_TRACE(text);
    write_text("quantize_config.json", text);
    test::expect_error([&] { ckpt::load_layer(file("model.safetensors"), "L"); }, ErrorCode::Io,
                       {"quantize_config.json", needle});
  }
  fs::remove(file("quantize_config.json"));
  const std::pair<const char*, const char*> config[] = {
      {R"({"quantization_config":5})", "'quantization_config'"},
      {R"({"quantization_config":{"quant_method":"gptq","zero_point":1}})", "'zero_point'"},
      {R"({"quantization_config":{"quant_method":"gptq","q_group_size":-2147483649}})", "'q_group_size'"},
  };
  for (auto [text, needle] : config) {
    SCOPED_TRACE(text);
    write_text("config.json", text);
    test::expect_error([&] { ckpt::load_layer(file("model.safetensors"), "L"); }, ErrorCode::Io, {"config.json", needle});
  }
}
