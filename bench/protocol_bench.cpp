// Placeholder: chunk reassembly and AMF0 micro-benchmarks arrive with those modules.
#include <benchmark/benchmark.h>
BENCHMARK_MAIN();
