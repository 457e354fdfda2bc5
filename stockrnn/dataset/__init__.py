"""From stored prices to a model's inputs: features, targets, chronological splits, scaled windows."""
