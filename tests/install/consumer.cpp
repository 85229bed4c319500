// A program outside the tree that uses the installed protocol library the way an application
// would: compiled with `pkg-config --cflags --libs ertmp` and -std=c++20 only, linked against
// libertmp.so. It decodes an AMF0 connect command from a byte table, then sends a connect
// through the chunk layer and back. Prints one line and exits 0 when everything matched.
#include <cstdio>
#include <string>
#include <vector>

#include "protocol/amf0.h"
#include "protocol/chunk_reader.h"
#include "protocol/chunk_writer.h"
#include "protocol/command.h"

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "consumer: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main() {
  // connect(1, {app: "live"}) in AMF0: string marker 02, number 00, object 03 ... 00 00 09.
  const std::vector<uint8_t> wire = {0x02, 0x00, 0x07, 'c',  'o',  'n',  'n',  'e',  'c',
                                     't',  0x00, 0x3F, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x00,
                                     0x00, 0x03, 0x00, 0x03, 'a',  'p',  'p',  0x02, 0x00,
                                     0x04, 'l',  'i',  'v',  'e',  0x00, 0x00, 0x09};
  rtmp::Limits limits;
  auto values = rtmp::amf0::decode_all(rtmp::Bytes(wire.data(), wire.size()), limits);
  if (!values.ok()) return fail("AMF0 decode: " + values.error().to_string());
  if (values->size() != 3 || !(*values)[0].as_string() || *(*values)[0].as_string() != "connect" ||
      (*values)[1].as_number() != 1.0 || (*values)[2].get_string("app") != "live") {
    return fail("AMF0 connect decoded to the wrong values");
  }

  // A connect larger than one 128-byte chunk, written as chunks and reassembled.
  const std::string tc_url = "rtmp://127.0.0.1:1935/live?" + std::string(200, 'x');
  rtmp::Message sent = rtmp::build_command_message(rtmp::make_command(
      "connect", 1, rtmp::amf::Value::object({{"app", "live"}, {"tcUrl", tc_url}}), {}));
  std::vector<uint8_t> chunks;
  rtmp::ChunkWriter writer;
  writer.write(sent, chunks);
  rtmp::ChunkReader reader(limits);
  if (auto st = reader.receive(rtmp::Bytes(chunks.data(), chunks.size())); !st.ok()) {
    return fail("chunk read: " + st.error().to_string());
  }
  auto got = reader.next_message();
  if (!got) return fail("no message reassembled");
  auto command = rtmp::parse_command(*got, limits);
  if (!command.ok()) return fail("parse_command: " + command.error().to_string());
  if (command->name != "connect" || command->command_object.get_string("tcUrl") != tc_url ||
      got->payload != sent.payload) {
    return fail("the connect did not survive the round trip");
  }
  std::printf("connect app=%s round-trip ok: %zu payload bytes in %zu wire bytes\n",
              command->command_object.get_string("app").c_str(), got->payload.size(),
              chunks.size());
  return 0;
}
