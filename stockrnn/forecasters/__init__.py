"""Everything that forecasts: the networks and their training, the baselines, quantiles, calibration."""
