"""Tiny random-weight checkpoints, the known-answer toy models and synthetic data: what the tests, the demo and the benchmarks run on instead of real weights."""
