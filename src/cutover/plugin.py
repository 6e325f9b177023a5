"""cutover's pytest plugin (placeholder until the parity checks land)."""
