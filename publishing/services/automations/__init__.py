"""Automations (issue 15): definitions and versions, entering and leaving, the beat's advance,
the test run with a simulated clock, and who is where."""
