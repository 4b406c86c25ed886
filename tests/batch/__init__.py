"""Tests of the batch package: population generator, runner, report."""
