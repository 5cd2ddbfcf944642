"""Many runs: sweep plans, reading runs back as numbers (for the report)."""
