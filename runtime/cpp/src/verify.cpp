// The check every backend's file passes before it is opened: its size and SHA-256 against what the export
// recorded in model.json (runtime.package.PackageSpec.verify). SHA-256 as FIPS 180-4 specifies it.
#include <array>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <vector>

#include "swinpose/swinpose.hpp"

namespace swinpose {
namespace {

constexpr std::array<uint32_t, 64> kRound = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

struct Sha256 {
  std::array<uint32_t, 8> h{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                            0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::array<unsigned char, 64> block{};
  size_t used = 0;
  uint64_t bits = 0;

  void compress(const unsigned char* p) {
    std::array<uint32_t, 64> w{};
    for (int i = 0; i < 16; ++i)
      w[i] = uint32_t(p[4 * i]) << 24 | uint32_t(p[4 * i + 1]) << 16 | uint32_t(p[4 * i + 2]) << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    auto v = h;
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 = v[7] + (rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25)) + ((v[4] & v[5]) ^ (~v[4] & v[6])) +
                          kRound[i] + w[i];
      const uint32_t t2 = (rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22)) + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
      for (int j = 7; j > 0; --j) v[j] = v[j - 1];
      v[4] += t1;
      v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; ++i) h[i] += v[i];
  }
  void update(const unsigned char* data, size_t n) {
    bits += uint64_t(n) * 8;
    while (n) {
      const size_t take = std::min(n, block.size() - used);
      std::copy_n(data, take, block.begin() + used);
      used += take, data += take, n -= take;
      if (used == block.size()) compress(block.data()), used = 0;
    }
  }
  std::string hex() {
    const uint64_t total = bits;
    const unsigned char one = 0x80, zero = 0;
    update(&one, 1);
    while (used != 56) update(&zero, 1);
    for (int i = 7; i >= 0; --i) {
      const unsigned char b = static_cast<unsigned char>(total >> (8 * i));
      update(&b, 1);
    }
    std::string out;
    char buf[9];
    for (uint32_t x : h) std::snprintf(buf, sizeof buf, "%08x", x), out += buf;
    return out;
  }
};

}  // namespace

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path);
  Sha256 sha;
  std::vector<unsigned char> buffer(1 << 20);
  while (in) {
    in.read(reinterpret_cast<char*>(buffer.data()), std::streamsize(buffer.size()));
    sha.update(buffer.data(), size_t(in.gcount()));
  }
  return sha.hex();
}

void verify_record(const std::string& folder, const std::string& json_name,
                   const std::map<std::string, FileRecord>& records, const std::string& name, const std::string& fix) {
  const auto it = records.find(name);
  if (name.empty() || it == records.end() || it->second.sha256.empty()) return;  // nothing recorded
  const std::string path = folder + "/" + name, where = folder + "/" + json_name;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(where + " names " + name + ", which cannot be read; " + fix);
  const int64_t size = in.tellg();
  if (it->second.bytes >= 0 && size != it->second.bytes)
    throw Error(path + " is " + std::to_string(size) + " bytes, and " + where + " recorded " +
                std::to_string(it->second.bytes) + ": the file was changed, truncated or replaced after the export; " +
                fix);
  const std::string digest = sha256_file(path);
  if (digest != it->second.sha256)
    throw Error(path + " does not match " + where + " (sha256 " + digest.substr(0, 12) + "..., recorded " +
                it->second.sha256.substr(0, 12) + "...): the file was damaged or replaced after the export; " + fix);
}

void verify_file(const PackageConfig& cfg, const std::string& name) {
  verify_record(cfg.folder, "model.json", cfg.records, name, "re-export the package with swinpose-export");
}

}  // namespace swinpose
