// Placeholder: filled by the amf module work.
#include <benchmark/benchmark.h>
BENCHMARK_MAIN();
