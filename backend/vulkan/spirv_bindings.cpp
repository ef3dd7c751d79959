// spirv_bindings.cpp — see spirv_bindings.hpp. Walks the module's instructions once, collecting the
// decorations, pointer and struct types and the buffer variables it needs.
#include "backend/vulkan/spirv_bindings.hpp"

#include <map>
#include <set>

#include "lowbit/lowbit.hpp"

namespace lowbit::detail::vk {

namespace {

constexpr uint32_t kMagic = 0x07230203;
constexpr uint32_t kOpTypeStruct = 30, kOpTypePointer = 32, kOpVariable = 59, kOpDecorate = 71, kOpMemberDecorate = 72;
constexpr uint32_t kNonWritable = 24, kBinding = 33, kDescriptorSet = 34;
constexpr uint32_t kUniform = 2, kStorageBuffer = 12;  // storage classes of buffer blocks

struct Decorations {
  bool non_writable = false;
  int64_t binding = -1;
  uint32_t set = 0;
};

}  // namespace

std::vector<bool> spirv_readonly_bindings(std::span<const uint32_t> words, uint32_t bindings) {
  if (words.size() < 5 || words[0] != kMagic) throw Error(ErrorCode::Internal, "vulkan: not a SPIR-V module");
  std::map<uint32_t, Decorations> deco;                // by id
  std::map<uint32_t, std::set<uint32_t>> ro_members;   // struct id -> NonWritable members
  std::map<uint32_t, size_t> members;                  // struct id -> member count
  std::map<uint32_t, uint32_t> pointee;                // pointer type id -> pointee type id
  std::vector<std::pair<uint32_t, uint32_t>> buffers;  // (pointer type, variable id)
  for (size_t i = 5; i < words.size();) {
    const uint32_t count = words[i] >> 16, op = words[i] & 0xFFFF;
    if (count == 0 || i + count > words.size()) throw Error(ErrorCode::Internal, "vulkan: truncated SPIR-V");
    const uint32_t* w = &words[i];
    if (op == kOpDecorate && count >= 3) {
      Decorations& d = deco[w[1]];
      if (w[2] == kNonWritable) d.non_writable = true;
      if (w[2] == kBinding && count >= 4) d.binding = w[3];
      if (w[2] == kDescriptorSet && count >= 4) d.set = w[3];
    } else if (op == kOpMemberDecorate && count >= 4 && w[3] == kNonWritable) {
      ro_members[w[1]].insert(w[2]);
    } else if (op == kOpTypeStruct && count >= 2) {
      members[w[1]] = count - 2;
    } else if (op == kOpTypePointer && count >= 4) {
      pointee[w[1]] = w[3];
    } else if (op == kOpVariable && count >= 4 && (w[3] == kStorageBuffer || w[3] == kUniform)) {
      buffers.emplace_back(w[1], w[2]);
    }
    i += count;
  }
  std::vector<bool> readonly(bindings, true);
  for (auto [type, var] : buffers) {
    auto d = deco.find(var);
    if (d == deco.end() || d->second.binding < 0 || d->second.set != 0 || d->second.binding >= int64_t(bindings)) continue;
    const uint32_t block = pointee.count(type) ? pointee[type] : 0;
    const bool all_members = members.count(block) && members[block] > 0 && ro_members[block].size() == members[block];
    if (!(d->second.non_writable || all_members)) readonly[size_t(d->second.binding)] = false;
  }
  return readonly;
}

}  // namespace lowbit::detail::vk
