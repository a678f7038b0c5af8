"""Services of publishing: every write with consequences (STYLE §2)."""
