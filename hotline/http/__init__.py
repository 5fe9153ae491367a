"""HTTP layer pieces, split by concern. ``server.create_app`` wires them together.

auth       API keys with roles, widget session cookie
ratelimit  per-key token buckets charged by work, in memory or (ratelimit_shared)
           a database table shared by every worker and replica
metrics    Prometheus metrics (prometheus_client; summed over gunicorn workers)
openapi    the OpenAPI 3.1 document (also the request validator's schemas)
validation request bodies read and checked against the document
accesslog  the JSON-lines access log with request ids and PII-masked text
feedback   agent feedback stored PII-masked in SQLite, exportable as training data
errors     the HTTP-specific exceptions (statuses mapped in server.py)
"""
