"""Files on disk: records, manifests, JSONL output, provenance sidecars, locks, resume and shards."""
