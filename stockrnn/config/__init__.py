"""The training configuration: its schema, and reading it from TOML and `--set` overrides."""
