"""Measuring tools that users do not need for scanning: accuracy and speed benchmarks, the scorer,
and the synthetic-card generator that the benchmarks and the tests use."""
