"""Files written so that a crash leaves the old version or the new one, and locks: one writer at a time."""
