"""One runner per experiment type; each is one MLflow run (SPEC §3)."""
