"""kubeguard fixes: minimal, verified text edits for findings (built on rules/)."""
