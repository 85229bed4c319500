#include "protocol/crypto.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>

#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

using test::bytes_of;
using test::hex;

std::string sha_hex(const std::vector<uint8_t>& b) {
  return to_hex(sha256(b));
}

TEST(Sha256, FipsVectors) {
  EXPECT_EQ(sha_hex(bytes_of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha_hex({}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha_hex(bytes_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha_hex(std::vector<uint8_t>(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsOneShotAtEverySplit) {
  auto data = bytes_of(
      "The quick brown fox jumps over the lazy dog, twice over for 130 bytes "
      "of input so that two blocks and padding are all exercised..");
  auto want = sha256(data);
  for (size_t split = 0; split <= data.size(); ++split) {
    Sha256 h;
    h.update(Bytes(data).first(split));
    h.update(Bytes(data).subspan(split));
    EXPECT_EQ(h.finish(), want) << split;
  }
}

// RFC 4231 test cases 1-4, 6, 7 (5 is a truncated output).
TEST(HmacSha256, Rfc4231) {
  struct Row {
    std::vector<uint8_t> key, data;
    const char* mac;
  } rows[] = {
      {std::vector<uint8_t>(20, 0x0b), bytes_of("Hi There"),
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {bytes_of("Jefe"), bytes_of("what do ya want for nothing?"),
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::vector<uint8_t>(20, 0xaa), std::vector<uint8_t>(50, 0xdd),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {hex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::vector<uint8_t>(50, 0xcd),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {std::vector<uint8_t>(131, 0xaa),
       bytes_of("Test Using Larger Than Block-Size Key - Hash Key First"),
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {std::vector<uint8_t>(131, 0xaa),
       bytes_of("This is a test using a larger than block-size key and a larger than block-size "
                "data. The key needs to be hashed before being used by the HMAC algorithm."),
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const auto& row : rows) EXPECT_EQ(to_hex(hmac_sha256(row.key, row.data)), row.mac);
}

TEST(Md5, Rfc1321Suite) {
  struct Row {
    const char* in;
    const char* out;
  } rows[] = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
       "d174ab98d277d9f5a5611c2c9f419d9f"},
      {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
       "57edf4a22be3c955ac49da2e2107b67a"},
  };
  for (const auto& row : rows) EXPECT_EQ(to_hex(md5(std::string_view(row.in))), row.out) << row.in;
}

TEST(Base64, Rfc4648Vectors) {
  const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(base64_encode(bytes_of(plain[i])), coded[i]);
    auto back = base64_decode(coded[i]);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, bytes_of(plain[i]));
  }
}

TEST(Base64, RejectsInvalidInput) {
  for (const char* bad : {"Zg=", "Z===", "Zm9v!A==", "Zg==Zg==", "=Zg="}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
}

// XXTEA encryption (the inverse of what secure_token_response decrypts), written here from
// the published algorithm, to check the decryption independently.
std::string tea_encrypt_hex(const std::string& key, std::string plain) {
  while (plain.size() % 4 || plain.size() < 8) plain.push_back('\0');
  uint32_t k[4] = {};
  for (size_t i = 0; i < 16 && i < key.size(); ++i)
    k[i / 4] |= uint32_t{static_cast<uint8_t>(key[i])} << (8 * (i % 4));
  std::vector<uint32_t> v(plain.size() / 4);
  for (size_t i = 0; i < plain.size(); ++i)
    v[i / 4] |= uint32_t{static_cast<uint8_t>(plain[i])} << (8 * (i % 4));
  const size_t n = v.size();
  uint32_t rounds = static_cast<uint32_t>(6 + 52 / n), sum = 0, z = v[n - 1], y = 0;
  while (rounds--) {
    sum += 0x9E3779B9;
    uint32_t e = (sum >> 2) & 3;
    for (size_t p = 0; p < n; ++p) {
      y = v[(p + 1) % n];
      z = v[p] +=
          (((z >> 5) ^ (y << 2)) + ((y >> 3) ^ (z << 4))) ^ ((sum ^ y) + (k[(p & 3) ^ e] ^ z));
    }
  }
  std::string hex;
  char buf[3];
  for (uint32_t w : v) {
    for (int i = 0; i < 4; ++i) {
      snprintf(buf, sizeof buf, "%02x", (w >> (8 * i)) & 0xFF);
      hex += buf;
    }
  }
  return hex;
}

TEST(SecureToken, DecryptsWhatXxteaEncrypted) {
  for (const std::string& key : {std::string("0123456789abcdef"), std::string("short"),
                                 std::string("a key longer than sixteen bytes")}) {
    for (const std::string& plain : {std::string("challenge-answer"), std::string("12345678"),
                                     std::string("a longer token of thirty-one b")}) {
      std::string hex = tea_encrypt_hex(key, plain);
      EXPECT_EQ(secure_token_response(key, hex), plain) << key << " / " << plain;
      // Upper-case hex reads the same.
      for (char& ch : hex) ch = static_cast<char>(toupper(ch));
      EXPECT_EQ(secure_token_response(key, hex), plain);
    }
  }
  // Only the first 16 key bytes count.
  std::string hex = tea_encrypt_hex("0123456789abcdef", "answer12");
  EXPECT_EQ(secure_token_response("0123456789abcdefIGNORED", hex), "answer12");
  EXPECT_NE(secure_token_response("0123456789abcdeX", hex), "answer12");
  EXPECT_EQ(secure_token_response("k", ""), "");
}

}  // namespace
}  // namespace rtmp
