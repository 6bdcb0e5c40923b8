"""Per-endpoint health: active HTTP checks and outlier ejection from live traffic."""
