"""Services of channels_app: every write with consequences (STYLE §2)."""
