// AMF0 decode/encode of a realistic connect command (OBS/ffmpeg shape plus E-RTMP fields) and of
// an onMetaData message. Prints items/s and bytes/s.
#include <benchmark/benchmark.h>

#include "protocol/amf0.h"
#include "protocol/command.h"

namespace {

using rtmp::amf::Value;

rtmp::Message connect_message() {
  Value obj = Value::object({
      {"app", Value("live")},
      {"type", Value("nonprivate")},
      {"flashVer", Value("FMLE/3.0 (compatible; FMSc/1.0)")},
      {"swfUrl", Value("rtmp://127.0.0.1:1935/live")},
      {"tcUrl", Value("rtmp://127.0.0.1:1935/live")},
      {"fourCcList", Value::strict_array({Value("av01"), Value("vp09"), Value("hvc1")})},
      {"videoFourCcInfoMap", Value::object({{"hvc1", Value(7.0)}, {"av01", Value(7.0)}})},
      {"capsEx", Value(15.0)},
  });
  return rtmp::build_command_message(rtmp::make_command("connect", 1, obj, {}));
}

void BM_Amf0DecodeConnect(benchmark::State& state) {
  auto m = connect_message();
  for (auto _ : state) {
    auto v = rtmp::amf0::decode_all(m.payload, rtmp::Limits{});
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * m.payload.size()));
}
BENCHMARK(BM_Amf0DecodeConnect);

void BM_ParseConnectCommand(benchmark::State& state) {
  auto m = connect_message();
  for (auto _ : state) {
    auto c = rtmp::parse_command(m, rtmp::Limits{});
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ParseConnectCommand);

void BM_Amf0EncodeConnect(benchmark::State& state) {
  auto values = *rtmp::amf0::decode_all(connect_message().payload, rtmp::Limits{});
  std::vector<uint8_t> out;
  for (auto _ : state) {
    out.clear();
    rtmp::ByteWriter w(out);
    rtmp::amf0::encode_all(values, w);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Amf0EncodeConnect);

void BM_Amf0DecodeMetadata(benchmark::State& state) {
  auto m = rtmp::build_set_data_frame(
      Value::object({{"duration", Value(0.0)},
                     {"width", Value(1920.0)},
                     {"height", Value(1080.0)},
                     {"videodatarate", Value(6000.0)},
                     {"framerate", Value(60.0)},
                     {"videocodecid", Value(7.0)},
                     {"audiodatarate", Value(160.0)},
                     {"audiosamplerate", Value(48000.0)},
                     {"audiosamplesize", Value(16.0)},
                     {"stereo", Value(true)},
                     {"audiocodecid", Value(10.0)},
                     {"encoder", Value("obs-output module (libobs version 30.2.0)")},
                     {"filesize", Value(0.0)}}));
  for (auto _ : state) {
    auto d = rtmp::parse_data_message(m);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * m.payload.size()));
}
BENCHMARK(BM_Amf0DecodeMetadata);

}  // namespace

BENCHMARK_MAIN();
