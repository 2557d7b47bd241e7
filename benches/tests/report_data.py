"""The results document `report.markdown` reads, for the report tests: one place for its shape."""


def results(medians, unavailable, **meta):
    """A one-round run's results with `medians` and `unavailable`, no churn; `meta` adds to or
    overrides the run's metadata (e.g. `floor_binary`, `versions`)."""
    return {
        "meta": {
            "commit": "abc",
            "date": "today",
            "command": "benches/run",
            "rounds": 1,
            "seconds": 1,
            "warmup": 0,
            "machine": {"cpu": "x", "cores": "2", "memory": "1 GiB", "kernel": "k"},
            "versions": {},
            **meta,
        },
        "medians": medians,
        "unavailable": unavailable,
        "churn": None,
        "churn_skipped": "skipped",
        "notes": [],
    }
