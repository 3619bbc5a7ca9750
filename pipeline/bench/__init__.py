"""Benchmarks: held-out, decontaminated suites and ComplexBench-shaped reports for any model endpoint."""
