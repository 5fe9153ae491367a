"""The OpenAPI 3.1 document, built from the same schema dicts the request
validator uses (``REQUESTS``), and a plain HTML rendering of it for ``/docs``
(no CDN: the docs page works offline)."""
from __future__ import annotations

import html
import json

from hotline.http.auth import ROLES
from kb.entry import ID_PATTERN, ID_RULE, MAX_ID

from hotline.http.openapi_incidents import (incident_operations, incident_requests,
                                             incident_responses)
from hotline.http.schema_parts import NULLABLE_S, NUM, STRS, S, obj, ref


def request_schemas(settings) -> dict[str, dict]:
    text = {"type": "string", "minLength": 1, "maxLength": settings.max_text_chars,
            "description": f"request text, at most {settings.max_text_chars} characters"}
    short = {"type": "string", "maxLength": 200}
    nshort = {"type": ["string", "null"], "maxLength": 200}
    date = {"type": "string", "format": "date"}
    # Department names of a list stored ";"-joined (hotline/http/feedback.py).
    names = {"type": "array", "maxItems": 10, "uniqueItems": True,
             "items": {"type": "string", "minLength": 1, "maxLength": 200,
                       "pattern": "^[^;]+$",
                       "description": "a department name; ';' is not allowed in it"}}
    entry_fields = {
        "question": {"type": "string", "minLength": 1, "maxLength": 32000},
        "similar_questions": {**STRS, "maxItems": 200},
        "answer": {"type": "string", "maxLength": 32000},
        "department": {**STRS, "maxItems": 50},
        "category": {**STRS, "maxItems": 3},
        "tags": {**STRS, "maxItems": 100},
        "region": short,
        "valid_from": {"type": ["string", "null"], "format": "date"},
        "valid_to": {"type": ["string", "null"], "format": "date",
                     "description": "exclusive: the first day the entry no longer applies"},
        "status": {"type": "string", "enum": ["draft", "published", "retired"]},
        "source": short,
    }
    return {
        **incident_requests(text, short, nshort),
        "AnalyzeRequest": {
            "type": "object", "additionalProperties": False, "required": ["text"],
            "properties": {"text": text, "region": short, "channel": short,
                           "k": {"type": "integer", "minimum": 1, "maximum": 20}},
        },
        "SearchRequest": {
            "type": "object", "additionalProperties": False, "required": ["query"],
            "properties": {"query": text, "k": {"type": "integer", "minimum": 1, "maximum": 50},
                           "region": short, "department": short, "category": short,
                           "now": {**date, "description": "validity date (default today)"}},
        },
        "ClassifyRequest": {
            "type": "object", "additionalProperties": False, "required": ["text"],
            "properties": {"text": text},
        },
        "ClassifyBatchRequest": {
            "type": "object", "additionalProperties": False, "required": ["items"],
            "properties": {"items": {
                "type": "array", "minItems": 1, "maxItems": settings.max_batch_items,
                "items": {"type": "object", "additionalProperties": False, "required": ["text"],
                          "properties": {"id": short, "text": text}}}},
        },
        "EntryCreate": {
            "type": "object", "additionalProperties": False, "required": ["id", "question"],
            "properties": {"id": {"type": "string", "minLength": 1, "maxLength": MAX_ID,
                                  "pattern": ID_PATTERN, "description": ID_RULE},
                           **entry_fields},
        },
        "EntryPatch": {
            "type": "object", "additionalProperties": False, "minProperties": 1,
            "properties": entry_fields,
        },
        "SessionRequest": {
            "type": "object", "additionalProperties": False, "required": ["key"],
            "properties": {"key": {"type": "string", "minLength": 1, "maxLength": 512,
                                   "description": "a configured API key (any role)"}},
        },
        "FeedbackRequest": {
            "type": "object", "additionalProperties": False, "required": ["text"],
            "properties": {
                "text": text, "request_id": short, "region": short, "channel": short,
                "predicted_type": nshort, "predicted_department": nshort,
                "predicted_lead_department": {**nshort, "description":
                                              "the suggested lead (departments.lead.name)"},
                "predicted_co_departments": {**names, "description":
                                             "the suggested co-handlers (departments.co names)"},
                "type": {**nshort, "description": "the agent's final request type"},
                "department": {**nshort, "description": "the agent's final department: the "
                                                        "lead (主办) the order goes to"},
                "co_departments": {**names, "description":
                                   "the agent's final co-handling departments (协办), not the "
                                   "lead; [] when the agent removed them all"},
                "answer_id": {**nshort, "description": "the KB entry the agent used"},
                "comment": {"type": ["string", "null"], "maxLength": 2000},
            },
        },
    }


def _departments_schema() -> dict:
    """Lead (主办) and co-handling (协办) departments (docs/dispatch.md)."""
    named = obj(["name", "confidence"], {"name": S, "confidence": NUM})
    return {**obj(["lead", "co"], {
        "lead": {"oneOf": [{"type": "null"}, named]},
        "co": {"type": "array", "items": named,
               "description": "departments of the request's other issues; empty for a "
                              "single-issue request"}}),
            "description": "the lead department (the caller's main or first issue) and the "
                           "co-handlers of a compound request"}


def response_schemas() -> dict[str, dict]:
    label_prob = obj(["label", "prob"], {"label": S, "prob": NUM}, extra=True)
    hit = obj(["id", "score", "question", "answer"], {
        "id": S, "score": NUM, "question": S, "answer": S, "department": STRS,
        "highlights": {"type": "object", "additionalProperties": STRS},
        "matched": S}, extra=True)
    reason = obj(["rule", "level", "text", "start", "end"], {
        "rule": S, "level": S, "text": S, "start": {"type": "integer"},
        "end": {"type": "integer"}, "by": S,
        "p": {**NUM, "description": "the learned signal's probability (rule `learned`)"}})
    classification = {
        "type": obj(["label", "confidence", "probs"], {
            "label": NULLABLE_S, "confidence": NUM,
            "probs": {"type": "object", "additionalProperties": NUM}}),
        "department": obj(["label", "confidence", "top3"], {
            "label": NULLABLE_S, "confidence": NUM,
            "top3": {"type": "array", "items": label_prob}}),
        "departments": _departments_schema(),
        "needs_review": {"type": "boolean"},
        "review_reasons": {"type": "array", "items": S,
                           "description": "why a person should check: the heads in the review zone "
                                          "(type, department), type:<label> when the text is most "
                                          "like a label the type head never answers (type:other: "
                                          "a proposal or thanks), list_update, no_content"},
        "urgency": obj(["level", "reasons", "suppressed"], {
            "level": {"type": "string", "enum": ["紧急", "较急", "一般"]},
            "reasons": {"type": "array", "items": reason,
                        "description": "rule matches that set the level (spans in `text`)"},
            "suppressed": {"type": "array", "items": reason,
                           "description": "matches dropped by context (`by`: negation, past, "
                                          "hypothetical or resolved cue)"}}),
        "reply_days": {"type": ["integer", "null"],
                       "description": "working days allowed (0 for a minutes/hours deadline)"},
        "reply_deadline": {"type": ["string", "null"], "format": "date",
                           "description": "the date the deadline falls on (official working-day "
                                          "calendar: holidays and make-up working days)"},
        "deadline": {"oneOf": [{"type": "null"}, obj(
            ["due", "rule", "unit", "amount", "extensions"], {
                "due": {**S, "description": "local date-time with offset, minutes"},
                "rule": S, "unit": {"type": "string", "enum": ["minutes", "hours",
                                                              "working_days"]},
                "amount": {"type": "integer"}, "extensions": {"type": "integer"}})]},
        "deadline_rule": {**NULLABLE_S, "description": "the rule that produced the deadline, "
                          "e.g. 'type=consult: 3 working days'"},
        "deadline_error": {**NULLABLE_S, "description": "why there is no deadline (a year the "
                           "working-day calendar does not cover)"},
        "evidence": {"type": "object", "description": "words, keywords and scores behind the "
                     "prediction (shape set by the classifier)"},
        "similar_cases": {"type": "array", "items": {"type": "object"}},
    }
    entry = obj(
        ["id", "question", "similar_questions", "answer", "department", "category", "tags",
         "region", "valid_from", "valid_to", "status", "source", "revision", "updated_at",
         "updated_by"],
        {"id": S, "question": S, "similar_questions": STRS, "answer": S, "department": STRS,
         "category": STRS, "tags": STRS, "region": S, "valid_from": NULLABLE_S,
         "valid_to": NULLABLE_S, "status": {"type": "string", "enum": ["draft", "published",
                                                                       "retired"]},
         "source": S, "revision": {"type": "integer"}, "updated_at": S, "updated_by": S})
    component = obj(["loaded", "version", "problem"], {
        "loaded": {"type": "boolean"}, "version": NULLABLE_S, "problem": NULLABLE_S})
    status = obj(["ready", "loaded_at", "components"], {
        "ready": {"type": "boolean"}, "loaded_at": S,
        "components": {"type": "object", "additionalProperties": component}}, extra=True)
    return {
        "Problem": obj(["type", "title", "status", "detail", "code"], {
            "type": S, "title": S, "status": {"type": "integer"}, "detail": S, "code": S,
            "request_id": S,
            "errors": {"type": "array", "items": {"type": "object"}}}, extra=True),
        "Hit": hit,
        "Classification": obj(list(classification), classification),
        "AnalyzeResponse": obj(
            ["request_id", "text", "region", "channel", *classification, "answers", "versions",
             "incident", "took_ms"],
            {"request_id": S, "text": S, "region": NULLABLE_S, "channel": NULLABLE_S,
             **classification, "answers": {"type": "array", "items": ref("Hit")},
             "versions": {"type": "object", "additionalProperties": S}, "took_ms": NUM,
             "incident": {"oneOf": [{"type": "null"}, ref("IncidentMatch")],
                          "description": "the open incident this call reports (nothing "
                                         "is recorded); null when none"}}),
        **incident_responses(),
        "SearchResponse": obj(["request_id", "query", "hits", "took_ms"], {
            "request_id": S, "query": S, "hits": {"type": "array", "items": ref("Hit")},
            "took_ms": NUM}),
        "ClassifyResponse": obj(["request_id", "text", *classification], {
            "request_id": S, "text": S, **classification}),
        "ClassifyBatchResponse": obj(["request_id", "items", "took_ms"], {
            "request_id": S, "took_ms": NUM,
            "items": {"type": "array", "items": obj(["id", "text", *classification], {
                "id": NULLABLE_S, "text": S, **classification})}}),
        "Entry": entry,
        "EntryList": obj(["total", "offset", "limit", "items"], {
            "total": {"type": "integer"}, "offset": {"type": "integer"},
            "limit": {"type": "integer"}, "items": {"type": "array", "items": ref("Entry")}}),
        "EntryHistory": obj(["id", "items"], {
            "id": S, "items": {"type": "array", "items": {"type": "object"}}}),
        "Departments": obj(["departments", "regions"], {
            "departments": {"type": "array", "items": obj(["name"], {"name": S}, extra=True)},
            "regions": STRS}),
        "FeedbackResponse": obj(["id", "created_at"], {"id": S, "created_at": S}),
        "Session": obj(["role", "key_id", "expires_at", "expires_in"], {
            "role": {"type": "string", "enum": list(ROLES)},
            "key_id": {**S, "description": "digest prefix of the key (as in logs)"},
            "expires_at": {**NULLABLE_S, "format": "date-time",
                           "description": "when the session ends (null for a Bearer key)"},
            "expires_in": {"type": ["integer", "null"], "description": "seconds left"}}),
        "Status": status,
        "ReloadResponse": {**status, "required": ["changed", "reloaded", *status["required"]],
                           "properties": {**status["properties"], "changed": STRS,
                                          "reloaded": STRS}},
        "Health": obj(["status"], {"status": {"type": "string", "enum": ["ok"]}}),
    }


# (method, path, summary, role or None, request schema, {status: response schema}, params)
def _operations():
    entry_id = {"name": "entry_id", "in": "path", "required": True,
                "schema": {"type": "string", "minLength": 1}}
    if_match = {"name": "If-Match", "in": "header", "required": True,
                "description": "the revision being edited, e.g. \"3\" (from the ETag)",
                "schema": {"type": "string"}}
    listing = [
        {"name": "status", "in": "query", "required": False,
         "schema": {"type": "string", "enum": ["draft", "published", "retired"]}},
        {"name": "offset", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 0, "default": 0}},
        {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
    ]
    body = [400, 413, 415]
    return [
        ("post", "/v1/analyze", "Analyze a request: type, department, deadline, answers "
         "(the widget's one call)", "agent", "AnalyzeRequest", {200: "AnalyzeResponse"}, [], body + [503]),
        ("post", "/v1/search", "Search the knowledge base", "agent", "SearchRequest",
         {200: "SearchResponse"}, [], body + [503]),
        ("get", "/v1/search", "Search the knowledge base (the POST body's fields as query "
         "parameters)", "agent", None, {200: "SearchResponse"}, [
             {"name": "query", "in": "query", "required": True,
              "schema": {"type": "string", "minLength": 1}},
             {"name": "k", "in": "query", "required": False,
              "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5}},
             *({"name": n, "in": "query", "required": False, "schema": {"type": "string", "maxLength": 200}}
               for n in ("region", "department", "category")),
             {"name": "now", "in": "query", "required": False,
              "schema": {"type": "string", "format": "date"}}], [400, 503]),
        ("post", "/v1/classify", "Classify one request", "agent", "ClassifyRequest",
         {200: "ClassifyResponse"}, [], body + [503]),
        ("post", "/v1/classify/batch", "Classify up to the batch limit of requests", "agent",
         "ClassifyBatchRequest", {200: "ClassifyBatchResponse"}, [], body + [503]),
        ("get", "/v1/kb/entries", "List KB entries", "agent", None, {200: "EntryList"},
         listing, [400, 503]),
        ("post", "/v1/kb/entries", "Create a KB entry", "editor", "EntryCreate",
         {201: "Entry"}, [], body + [409, 503]),
        ("get", "/v1/kb/entries/{entry_id}", "Get a KB entry (ETag = revision)", "agent", None,
         {200: "Entry"}, [entry_id], [404, 503]),
        ("patch", "/v1/kb/entries/{entry_id}", "Change a KB entry (If-Match revision)",
         "editor", "EntryPatch", {200: "Entry"}, [entry_id, if_match], body + [404, 409, 428, 503]),
        ("delete", "/v1/kb/entries/{entry_id}", "Retire a KB entry (If-Match revision)",
         "editor", None, {200: "Entry"}, [entry_id, if_match], [400, 404, 409, 428, 503]),
        ("get", "/v1/kb/entries/{entry_id}/history", "Revision history of a KB entry", "agent",
         None, {200: "EntryHistory"}, [entry_id], [404, 503]),
        ("get", "/v1/departments", "Departments (taxonomy) and regions, for pickers", "agent",
         None, {200: "Departments"}, [], [503]),
        ("post", "/v1/session", "Sign in (the widget): exchange a configured key for a "
         "session cookie", None, "SessionRequest", {201: "Session"}, [], body + [401, 429]),
        ("get", "/v1/session", "Who is signed in: role, key id, expiry", "agent", None,
         {200: "Session"}, [], []),
        ("delete", "/v1/session", "Sign out: clear the session cookie", None, None, {204: None},
         [], []),
        ("post", "/v1/feedback", "Record the agent's final type/department (lead and co-handlers)/answer", "agent",
         "FeedbackRequest", {201: "FeedbackResponse"}, [], body),
        ("get", "/v1/models", "Loaded model, index and KB versions", "admin", None,
         {200: "Status"}, [], []),
        ("post", "/v1/admin/reload", "Load newly published artifacts (atomic swap)", "admin",
         None, {200: "ReloadResponse"}, [], []),
        ("get", "/healthz", "Liveness", None, None, {200: "Health"}, [], []),
        ("get", "/readyz", "Readiness: KB, index and model loaded", None, None,
         {200: "Status", 503: "Status"}, [], []),
    ] + incident_operations(listing, body)


_REASONS = {200: "OK", 201: "Created", 204: "No content", 400: "Bad request: empty, no content "
            "(no letter, digit or CJK character), too long, wrongly typed, "
            "malformed or non-UTF-8 input", 401: "No or invalid API key",
            403: "The key's role does not allow this", 404: "Not found",
            409: "Conflict: stale revision or existing id", 413: "Body too large",
            415: "Body is not application/json", 428: "If-Match header missing",
            429: "Rate limit exceeded (see Retry-After)", 503: "Not ready (see /readyz)"}


def build(settings) -> dict:
    schemas = {**request_schemas(settings), **response_schemas()}
    problem = {"application/problem+json": {"schema": ref("Problem")}}
    paths: dict = {}
    for method, path, summary, role, req, oks, params, errors in _operations():
        op: dict = {"summary": summary, "operationId": f"{method}_{path.strip('/')}"
                    .replace("/", "_").replace("{", "").replace("}", ""), "responses": {}}
        if params:
            op["parameters"] = params
        if role:
            op["description"] = f"Requires role `{role}` (roles: {', '.join(ROLES)})."
            op["security"] = [{"bearerAuth": []}, {"widgetSession": []}]
            errors = sorted(set(errors) | {401, 403, 429})
        else:
            op["security"] = []
        if req:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": ref(req)}}}
        for status, name in oks.items():
            op["responses"][str(status)] = {"description": _REASONS[status]}
            if name:
                op["responses"][str(status)]["content"] = {
                    "application/json": {"schema": ref(name)}}
        for status in errors:
            op["responses"].setdefault(str(status), {"description": _REASONS[status],
                                                     "content": problem})
        paths.setdefault(path, {})[method] = op
    text_plain = {"200": {"description": "OK", "content": {"text/plain": {"schema": S}}}}
    paths["/metrics"] = {"get": {"summary": "Prometheus metrics", "operationId": "metrics",
                                 "security": [], "responses": text_plain}}
    paths["/openapi.json"] = {"get": {
        "summary": "This document", "operationId": "openapi", "security": [],
        "responses": {"200": {"description": "OK",
                              "content": {"application/json": {"schema": {"type": "object"}}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "hotline-kb API", "version": "1",
                 "description": "Knowledge-base search and request dispatch for 12345 "
                 "public-service hotlines. Errors are RFC 9457 problem details with a stable "
                 "`code`. Send `Authorization: Bearer <API key>`, or sign in with "
                 "`POST /v1/session` (the widget) for a session cookie bound to that key. "
                 "Drafts are visible to role editor and above. Rate limit: one token per "
                 "text per started 1,000 characters (a batch item is a text), listings "
                 "1 + limit/100, other calls 1; see docs/api.md."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "widgetSession": {"type": "apiKey", "in": "cookie", "name": "hotline_session",
                                  "description": "set by POST /v1/session (the role of the "
                                  "key signed in with; HttpOnly, SameSite=Strict, Path=/v1)"},
            },
        },
    }


def render_html(doc: dict) -> str:
    """A readable, dependency-free page: one section per operation."""
    out = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
           f"<title>{html.escape(doc['info']['title'])}</title><style>",
           "body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em}",
           "h2{border-top:1px solid #ccc;padding-top:.6em}code,pre{background:#f5f5f5}",
           "pre{padding:.6em;overflow:auto;font-size:13px}.m{font-weight:bold;color:#06c}",
           "</style></head><body>",
           f"<h1>{html.escape(doc['info']['title'])}</h1>",
           f"<p>{html.escape(doc['info']['description'])}</p>",
           "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1).</p>"]
    schemas = doc["components"]["schemas"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            out.append(f"<h2><span class='m'>{method.upper()}</span> <code>{html.escape(path)}"
                       f"</code></h2><p>{html.escape(op['summary'])}. "
                       f"{html.escape(op.get('description', 'No authentication.'))}</p>")
            for p in op.get("parameters", []):
                out.append(f"<p>{p['in']} parameter <code>{html.escape(p['name'])}</code>"
                           f"{' (required)' if p.get('required') else ''}: "
                           f"<code>{html.escape(json.dumps(p['schema']))}</code></p>")
            if "requestBody" in op:
                name = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                name = name.rsplit("/", 1)[1]
                out.append(f"<p>Request body <code>{name}</code>:</p><pre>"
                           + html.escape(json.dumps(schemas[name], ensure_ascii=False, indent=1))
                           + "</pre>")
            rows = "".join(f"<li><b>{code}</b> {html.escape(r['description'])}</li>"
                           for code, r in op["responses"].items())
            out.append(f"<ul>{rows}</ul>")
    out.append("<h2>Schemas</h2>")
    for name, schema in schemas.items():
        out.append(f"<h3 id='{name}'>{name}</h3><pre>"
                   + html.escape(json.dumps(schema, ensure_ascii=False, indent=1)) + "</pre>")
    out.append("</body></html>")
    return "".join(out)
