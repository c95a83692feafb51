"""Locust load tests of every delivery pattern against the real stack, replaying the
jobs the simulation draws for the same scenario and seed."""
