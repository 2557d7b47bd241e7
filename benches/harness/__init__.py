"""gatehouse benchmark harness: peers, load generators, scale and churn (stdlib only)."""
