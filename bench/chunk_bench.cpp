// Placeholder: filled by the chunk module work.
#include <benchmark/benchmark.h>
BENCHMARK_MAIN();
