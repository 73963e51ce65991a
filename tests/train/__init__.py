"""Tests of the training engine (``snnas.train``): fit, evaluate, recalibrate, a run's data splits."""
