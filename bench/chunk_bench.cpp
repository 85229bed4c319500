// Chunk layer throughput against its anchor, memcpy of the same bytes, in the same run.
//
// The stream imitates OBS: ~30 video messages/s of 20-200 KB on csid 6 and ~47 audio messages/s
// of ~400 B on csid 4, chunked at 4096 (OBS/ffmpeg) or 128 (the protocol default), fed to the
// reader in 64 KiB reads as a socket would deliver them. Counters: bytes/s; the ratio line at
// the end is reassembly time / memcpy time (goal <= 2).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>

#include "protocol/chunk_reader.h"
#include "protocol/chunk_writer.h"
#include "protocol/control.h"

namespace {

using rtmp::Message;

std::vector<Message> make_messages() {
  std::mt19937 rng(42);
  std::vector<Message> msgs;
  uint64_t ts = 0;
  for (int i = 0; i < 300; ++i) {  // 10 s of video
    Message v;
    v.type = 9;
    v.csid = 6;
    v.stream_id = 1;
    v.timestamp = ts;
    v.payload.assign(i % 60 == 0 ? 200'000 : 20'000 + rng() % 30'000, static_cast<uint8_t>(i));
    msgs.push_back(std::move(v));
    for (int a = 0; a < 2; ++a) {
      Message au;
      au.type = 8;
      au.csid = 4;
      au.stream_id = 1;
      au.timestamp = ts + static_cast<uint64_t>(a) * 16;
      au.payload.assign(380 + rng() % 40, 0xAF);
      msgs.push_back(std::move(au));
    }
    ts += 33;
  }
  return msgs;
}

std::vector<uint8_t> chunked(uint32_t chunk_size) {
  rtmp::ChunkWriter w;
  std::vector<uint8_t> out;
  w.write(rtmp::make_set_chunk_size(chunk_size), out);
  w.set_chunk_size(chunk_size);
  for (const auto& m : make_messages()) w.write(m, out);
  return out;
}

const std::vector<uint8_t>& stream(uint32_t chunk_size) {
  static const std::vector<uint8_t> s4096 = chunked(4096);
  static const std::vector<uint8_t> s128 = chunked(128);
  return chunk_size == 4096 ? s4096 : s128;
}

size_t payload_bytes() {
  static const size_t n = [] {
    size_t total = 0;
    for (const auto& m : make_messages()) total += m.payload.size();
    return total;
  }();
  return n;
}

void read_stream(const std::vector<uint8_t>& bytes) {
  rtmp::ChunkReader r(rtmp::Limits{});
  size_t messages = 0;
  for (size_t i = 0; i < bytes.size(); i += 65536) {
    size_t n = std::min<size_t>(65536, bytes.size() - i);
    if (!r.receive(rtmp::Bytes(bytes.data() + i, n)).ok()) std::abort();
    while (auto m = r.next_message()) {
      benchmark::DoNotOptimize(m->payload.data());
      ++messages;
    }
  }
  benchmark::DoNotOptimize(messages);
}

void BM_ChunkReassembly(benchmark::State& state) {
  const auto& bytes = stream(static_cast<uint32_t>(state.range(0)));
  for (auto _ : state) read_stream(bytes);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_ChunkReassembly)->Arg(4096)->Arg(128)->Unit(benchmark::kMillisecond);

// Anchor: copying the same bytes once (64 KiB reads into a message-sized destination).
void copy_stream(const std::vector<uint8_t>& bytes, std::vector<uint8_t>& dst) {
  for (size_t i = 0; i < bytes.size(); i += 65536) {
    size_t n = std::min<size_t>(65536, bytes.size() - i);
    std::memcpy(dst.data() + i, bytes.data() + i, n);
  }
  benchmark::DoNotOptimize(dst.data());
}

void BM_MemcpyAnchor(benchmark::State& state) {
  const auto& bytes = stream(static_cast<uint32_t>(state.range(0)));
  std::vector<uint8_t> dst(bytes.size());
  for (auto _ : state) copy_stream(bytes, dst);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_MemcpyAnchor)->Arg(4096)->Arg(128)->Unit(benchmark::kMillisecond);

void BM_ChunkWriter(benchmark::State& state) {
  auto msgs = make_messages();
  std::vector<uint8_t> out;
  out.reserve(payload_bytes() * 2);
  for (auto _ : state) {
    out.clear();
    rtmp::ChunkWriter w;
    w.set_chunk_size(static_cast<uint32_t>(state.range(0)));
    for (const auto& m : msgs) w.write(m, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * payload_bytes()));
}
BENCHMARK(BM_ChunkWriter)->Arg(4096)->Arg(128)->Unit(benchmark::kMillisecond);

// Median-of-runs ratio printed after the table, measured in this run.
double median_seconds(void (*fn)(const std::vector<uint8_t>&, std::vector<uint8_t>&),
                      const std::vector<uint8_t>& bytes) {
  std::vector<uint8_t> dst(bytes.size());
  std::vector<double> t;
  for (int i = 0; i < 15; ++i) {
    auto a = std::chrono::steady_clock::now();
    fn(bytes, dst);
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void print_ratios() {
  for (uint32_t cs : {4096u, 128u}) {
    const auto& bytes = stream(cs);
    double reassembly = median_seconds(
        [](const std::vector<uint8_t>& b, std::vector<uint8_t>&) { read_stream(b); }, bytes);
    double copy = median_seconds(copy_stream, bytes);
    std::printf("chunk %5u: reassembly %.2f GB/s, memcpy %.2f GB/s, ratio %.2fx (goal <= 2x)\n", cs,
                static_cast<double>(bytes.size()) / reassembly / 1e9,
                static_cast<double>(bytes.size()) / copy / 1e9, reassembly / copy);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  print_ratios();
  benchmark::Shutdown();
  return 0;
}
