"""Stage 1: read the canonical activity tables and validate them (contract sections 1 and 7)."""
