"""A run folder: what a trained model leaves on disk, its schema and checksums, and restoring it."""
