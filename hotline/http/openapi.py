"""The OpenAPI 3.1 document, built from the same schema dicts the request
validator uses (``REQUESTS``), and a plain HTML rendering of it for ``/docs``
(no CDN: the docs page works offline)."""
from __future__ import annotations

import html
import json

from hotline.http.auth import ROLES
from kb.entry import ID_PATTERN, ID_RULE, MAX_ID

S = {"type": "string"}
STRS = {"type": "array", "items": S}
NULLABLE_S = {"type": ["string", "null"]}
NUM = {"type": "number"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


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
    order_id = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1,
                "description": "a recorded order's id"}
    order = {"text": text, "region": short, "type": nshort, "department": nshort,
             "time": {"type": "string", "maxLength": 40, "description":
                      "when the call came, ISO 8601 (an offset is honoured, a naive time "
                      "is UTC); default now"},
             "note": {"type": ["string", "null"], "maxLength": 2000,
                      "description": "the agent's note, shown to the next agents"}}
    return {
        "OrderRequest": {
            "type": "object", "additionalProperties": False, "required": ["text"],
            "properties": {**order, "new": {"type": "boolean", "description":
                                            "open a new incident even if one matches"}}},
        "LinkRequest": {
            "type": "object", "additionalProperties": False, "minProperties": 1,
            "properties": {"order_id": order_id, **order},
            "description": "order_id (move a recorded order here) or text (record a new "
                           "order in this incident)"},
        "UnlinkRequest": {
            "type": "object", "additionalProperties": False, "required": ["order_id"],
            "properties": {"order_id": order_id}},
        "NotSameRequest": {
            "type": "object", "additionalProperties": False, "minProperties": 1,
            "properties": {"order_id": order_id, "text": text},
            "description": "the order, or the call's text, that is not this incident"},
        "MergeRequest": {
            "type": "object", "additionalProperties": False, "required": ["other"],
            "properties": {"other": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1,
                                     "description": "the incident merged into this one"}}},
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


def _obj(required: list[str], props: dict, extra: bool = False) -> dict:
    return {"type": "object", "required": required, "properties": props,
            "additionalProperties": extra}


def _departments_schema() -> dict:
    """Lead (主办) and co-handling (协办) departments (docs/dispatch.md)."""
    named = _obj(["name", "confidence"], {"name": S, "confidence": NUM})
    return {**_obj(["lead", "co"], {
        "lead": {"oneOf": [{"type": "null"}, named]},
        "co": {"type": "array", "items": named,
               "description": "departments of the request's other issues; empty for a "
                              "single-issue request"}}),
            "description": "the lead department (the caller's main or first issue) and the "
                           "co-handlers of a compound request"}


def response_schemas() -> dict[str, dict]:
    label_prob = _obj(["label", "prob"], {"label": S, "prob": NUM}, extra=True)
    hit = _obj(["id", "score", "question", "answer"], {
        "id": S, "score": NUM, "question": S, "answer": S, "department": STRS,
        "highlights": {"type": "object", "additionalProperties": STRS},
        "matched": S}, extra=True)
    reason = _obj(["rule", "level", "text", "start", "end"], {
        "rule": S, "level": S, "text": S, "start": {"type": "integer"},
        "end": {"type": "integer"}, "by": S})
    classification = {
        "type": _obj(["label", "confidence", "probs"], {
            "label": NULLABLE_S, "confidence": NUM,
            "probs": {"type": "object", "additionalProperties": NUM}}),
        "department": _obj(["label", "confidence", "top3"], {
            "label": NULLABLE_S, "confidence": NUM,
            "top3": {"type": "array", "items": label_prob}}),
        "departments": _departments_schema(),
        "needs_review": {"type": "boolean"},
        "review_reasons": {"type": "array", "items": S,
                           "description": "which heads fell in the review zone (type, department)"},
        "urgency": _obj(["level", "reasons", "suppressed"], {
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
        "deadline": {"oneOf": [{"type": "null"}, _obj(
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
    entry = _obj(
        ["id", "question", "similar_questions", "answer", "department", "category", "tags",
         "region", "valid_from", "valid_to", "status", "source", "revision", "updated_at",
         "updated_by"],
        {"id": S, "question": S, "similar_questions": STRS, "answer": S, "department": STRS,
         "category": STRS, "tags": STRS, "region": S, "valid_from": NULLABLE_S,
         "valid_to": NULLABLE_S, "status": {"type": "string", "enum": ["draft", "published",
                                                                       "retired"]},
         "source": S, "revision": {"type": "integer"}, "updated_at": S, "updated_by": S})
    order = _obj(["id", "time", "text", "type", "department", "region", "note", "by"], {
        "id": {"type": "integer"}, "time": S, "text": {**S, "description": "masked"},
        "type": NULLABLE_S, "department": NULLABLE_S, "region": NULLABLE_S,
        "note": NULLABLE_S, "by": S})
    incident_props = {
        "id": {"type": "integer"},
        "status": {"type": "string", "enum": ["open", "closed", "merged"],
                   "description": "closed: closed by an editor or past its window"},
        "size": {"type": "integer", "description": "orders (calls) in the incident"},
        "region": NULLABLE_S, "first_seen": S, "last_seen": S,
        "closes_at": {**S, "description": "first report + the window of its problem"},
        "department": NULLABLE_S, "type": NULLABLE_S,
        "merged_into": {"type": ["integer", "null"]},
        "note": {**NULLABLE_S, "description": "the latest agent note"},
        "last_order": {"oneOf": [{"type": "null"}, _ref("IncidentOrder")],
                       "description": "the order linked last"},
        "examples": {"type": "array", "items": _ref("IncidentOrder"),
                     "description": "the newest orders (up to 3)"}}
    incident = _obj(list(incident_props), incident_props)
    match = _obj([*incident_props, "confidence"], {
        **incident_props, "confidence": {**NUM, "description": "the linker's probability"}})
    component = _obj(["loaded", "version", "problem"], {
        "loaded": {"type": "boolean"}, "version": NULLABLE_S, "problem": NULLABLE_S})
    status = _obj(["ready", "loaded_at", "components"], {
        "ready": {"type": "boolean"}, "loaded_at": S,
        "components": {"type": "object", "additionalProperties": component}}, extra=True)
    return {
        "Problem": _obj(["type", "title", "status", "detail", "code"], {
            "type": S, "title": S, "status": {"type": "integer"}, "detail": S, "code": S,
            "request_id": S,
            "errors": {"type": "array", "items": {"type": "object"}}}, extra=True),
        "Hit": hit,
        "Classification": _obj(list(classification), classification),
        "AnalyzeResponse": _obj(
            ["request_id", "text", "region", "channel", *classification, "answers", "versions",
             "incident", "took_ms"],
            {"request_id": S, "text": S, "region": NULLABLE_S, "channel": NULLABLE_S,
             **classification, "answers": {"type": "array", "items": _ref("Hit")},
             "versions": {"type": "object", "additionalProperties": S}, "took_ms": NUM,
             "incident": {"oneOf": [{"type": "null"}, _ref("IncidentMatch")],
                          "description": "the open incident this call reports (nothing "
                                         "is recorded); null when none"}}),
        "IncidentOrder": order,
        "Incident": incident,
        "IncidentMatch": match,
        "IncidentDetail": {**incident, "required": [*incident["required"], "orders"],
                           "properties": {**incident_props, "orders": {
                               "type": "array", "items": _ref("IncidentOrder")}}},
        "IncidentList": _obj(["status", "offset", "limit", "items"], {
            "status": S, "offset": {"type": "integer"}, "limit": {"type": "integer"},
            "items": {"type": "array", "items": _ref("Incident")}}),
        "IncidentChange": _obj(["incident"], {
            "order_id": {"type": "integer"}, "incident": _ref("Incident"),
            "linked": {"type": "boolean", "description": "joined a matching incident"},
            "confidence": NUM, "new_incident": _ref("Incident")}),
        "IncidentAudit": _obj(["id", "items"], {"id": {"type": "integer"}, "items": {
            "type": "array", "items": {"type": "object"}}}),
        **_dashboard_schemas(),
        "SearchResponse": _obj(["request_id", "query", "hits", "took_ms"], {
            "request_id": S, "query": S, "hits": {"type": "array", "items": _ref("Hit")},
            "took_ms": NUM}),
        "ClassifyResponse": _obj(["request_id", "text", *classification], {
            "request_id": S, "text": S, **classification}),
        "ClassifyBatchResponse": _obj(["request_id", "items", "took_ms"], {
            "request_id": S, "took_ms": NUM,
            "items": {"type": "array", "items": _obj(["id", "text", *classification], {
                "id": NULLABLE_S, "text": S, **classification})}}),
        "Entry": entry,
        "EntryList": _obj(["total", "offset", "limit", "items"], {
            "total": {"type": "integer"}, "offset": {"type": "integer"},
            "limit": {"type": "integer"}, "items": {"type": "array", "items": _ref("Entry")}}),
        "EntryHistory": _obj(["id", "items"], {
            "id": S, "items": {"type": "array", "items": {"type": "object"}}}),
        "Departments": _obj(["departments", "regions"], {
            "departments": {"type": "array", "items": _obj(["name"], {"name": S}, extra=True)},
            "regions": STRS}),
        "FeedbackResponse": _obj(["id", "created_at"], {"id": S, "created_at": S}),
        "Session": _obj(["role", "key_id", "expires_at", "expires_in"], {
            "role": {"type": "string", "enum": list(ROLES)},
            "key_id": {**S, "description": "digest prefix of the key (as in logs)"},
            "expires_at": {**NULLABLE_S, "format": "date-time",
                           "description": "when the session ends (null for a Bearer key)"},
            "expires_in": {"type": ["integer", "null"], "description": "seconds left"}}),
        "Status": status,
        "ReloadResponse": {**status, "required": ["changed", "reloaded", *status["required"]],
                           "properties": {**status["properties"], "changed": STRS,
                                          "reloaded": STRS}},
        "Health": _obj(["status"], {"status": {"type": "string", "enum": ["ok"]}}),
    }


def _dashboard_schemas() -> dict:
    """The dashboard's read-only answers (docs/dashboard.md)."""
    INT = {"type": "integer"}
    NULL_NUM = {"type": ["number", "null"]}
    rising = {"type": "array", "items": _obj(["key", "this", "last", "delta", "growth_pct"], {
        "key": S, "this": INT, "last": INT, "delta": INT, "growth_pct": NULL_NUM,
        "label": {**S, "description": "problem classes: a word for the class (停水, 电梯...)"}})}
    listed = {"id": {**S, "description": "the report directory's name under HOME/reports/"},
              "written_at": {**S, "format": "date-time"}, "column": NULLABLE_S,
              "head": NULLABLE_S, "rows_compared": INT, "changed": INT,
              "changed_pct": NULL_NUM, "agreement": NULL_NUM}
    rows = {"type": "array", "items": {"type": "object"}}
    return {
        "IncidentStats": _obj(["days", "tz_minutes", "totals", "per_hour", "per_day",
                               "districts", "rising"], {
            "days": INT, "tz_minutes": INT,
            "totals": _obj(["reports", "reports_previous", "open_incidents", "open_reports"], {
                "reports": INT, "reports_previous": INT, "open_incidents": INT,
                "open_reports": INT}),
            "per_hour": {"type": "array", "items": _obj(["start", "reports"], {
                "start": {**S, "description": "hour start, ISO 8601 in the tz offset"},
                "reports": INT})},
            "per_day": {"type": "array", "items": _obj(["day", "reports"], {
                "day": {**S, "format": "date"}, "reports": INT})},
            "districts": {"type": "array", "items": _obj(
                ["region", "open_incidents", "open_reports", "multi_report", "reports"], {
                    "region": NULLABLE_S, "open_incidents": INT, "open_reports": INT,
                    "multi_report": INT, "reports": INT})},
            "rising": _obj(["department", "problem"], {"department": rising,
                                                       "problem": rising})}),
        "ChangeReportList": _obj(["items"], {"items": {
            "type": "array", "items": _obj(list(listed), listed)}}),
        "ChangeReport": _obj([*listed, "transitions", "transitions_total", "shifts",
                              "changes_by_predicted_department", "most_confident_changes"], {
            **listed, "rows_without_old_label": {"type": ["integer", "null"]},
            "transitions": {"type": "array", "items": _obj(["old", "new", "rows"], {
                "old": S, "new": S, "rows": INT})},
            "transitions_total": INT, "shifts": rows,
            "changes_by_predicted_department": rows, "most_confident_changes": rows}),
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
    incident_id = {"name": "incident_id", "in": "path", "required": True,
                   "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}
    incident_listing = [
        {"name": "status", "in": "query", "required": False,
         "schema": {"type": "string", "enum": ["open", "closed", "merged", "all"],
                    "default": "open"}},
        {"name": "region", "in": "query", "required": False, "schema": S},
        listing[1], listing[2]]
    incidents = [
        ("get", "/v1/incidents", "List incidents (default: open ones, newest activity first)",
         "agent", None, {200: "IncidentList"}, incident_listing, [400]),
        ("post", "/v1/incidents/orders", "Record an order: it joins the open incident it "
         "reports, else opens one", "agent", "OrderRequest", {201: "IncidentChange"}, [],
         body + [503]),
        ("get", "/v1/incidents/{incident_id}", "An incident and its orders", "agent", None,
         {200: "IncidentDetail"}, [incident_id], [404]),
        ("post", "/v1/incidents/{incident_id}/link", "Link an order to the incident (a "
         "recorded one, or a new one from its text)", "agent", "LinkRequest",
         {200: "IncidentChange"}, [incident_id], body + [404, 409]),
        ("post", "/v1/incidents/{incident_id}/unlink", "Take an order out into an incident of "
         "its own (remembered: not proposed again)", "agent", "UnlinkRequest",
         {200: "IncidentChange"}, [incident_id], body + [404]),
        ("post", "/v1/incidents/{incident_id}/not-same", "Mark an order or a call's text as "
         "not this incident (never proposed for it again)", "agent", "NotSameRequest",
         {200: "IncidentChange"}, [incident_id], body + [404]),
        ("post", "/v1/incidents/{incident_id}/merge", "Merge another incident into this one",
         "editor", "MergeRequest", {200: "IncidentChange"}, [incident_id], body + [404, 409]),
        ("post", "/v1/incidents/{incident_id}/close", "Close the incident", "editor", None,
         {200: "IncidentChange"}, [incident_id], [404]),
        ("get", "/v1/incidents/{incident_id}/audit", "Who changed the incident, when, how",
         "editor", None, {200: "IncidentAudit"}, [incident_id], [404]),
        ("get", "/v1/incidents/stats", "The dashboard's aggregates: reports per hour and per "
         "day, open incidents and reports by district, departments and problems rising "
         "period over period", "agent", None, {200: "IncidentStats"}, [
             {"name": "days", "in": "query", "required": False,
              "schema": {"type": "integer", "minimum": 1, "maximum": 31, "default": 7}},
             {"name": "tz", "in": "query", "required": False,
              "description": "minutes east of UTC for day boundaries (480: China)",
              "schema": {"type": "integer", "minimum": -720, "maximum": 840,
                         "default": 480}}], [400]),
        ("get", "/v1/reports/changes", "Reclassification change reports under the home's "
         "reports folder, newest first", "agent", None, {200: "ChangeReportList"}, [], []),
        ("get", "/v1/reports/changes/{report_id}", "One change report's summary (by id, "
         "never a path)", "agent", None, {200: "ChangeReport"},
         [{"name": "report_id", "in": "path", "required": True,
           "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"}}],
         [400, 404]),
    ]
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
    ] + incidents


_REASONS = {200: "OK", 201: "Created", 204: "No content", 400: "Bad request: empty, no content "
            "(no letter, digit or CJK character), too long, wrongly typed, "
            "malformed or non-UTF-8 input", 401: "No or invalid API key",
            403: "The key's role does not allow this", 404: "Not found",
            409: "Conflict: stale revision or existing id", 413: "Body too large",
            415: "Body is not application/json", 428: "If-Match header missing",
            429: "Rate limit exceeded (see Retry-After)", 503: "Not ready (see /readyz)"}


def build(settings) -> dict:
    schemas = {**request_schemas(settings), **response_schemas()}
    problem = {"application/problem+json": {"schema": _ref("Problem")}}
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
                                 "content": {"application/json": {"schema": _ref(req)}}}
        for status, name in oks.items():
            op["responses"][str(status)] = {"description": _REASONS[status]}
            if name:
                op["responses"][str(status)]["content"] = {
                    "application/json": {"schema": _ref(name)}}
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
