"""Locust load tests of every delivery pattern on the real stack, replaying the jobs the model draws for the same seed.
Imports `core`, `stack`, `checks` (a target's description) and `simulations` (calibration); `benchmarks` imports it."""
