"""Operating Bulletin: request/task ids in every log line (JSON logs), Prometheus metrics
(`/metrics` for the web processes, an exporter port for workers) and operator alerts."""
