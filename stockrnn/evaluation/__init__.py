"""Scores: metrics per horizon and level, every forecaster on the same origins, significance tests."""
