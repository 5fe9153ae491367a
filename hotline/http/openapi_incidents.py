"""The incidents' and the dashboard's part of the OpenAPI document
(docs/incidents.md, docs/dashboard.md): request and response schemas and the
operations, merged into ``hotline.http.openapi``'s document."""
from __future__ import annotations

from hotline.http.schema_parts import NULLABLE_S, NUM, S, obj, ref


def incident_requests(text: dict, short: dict, nshort: dict) -> dict[str, dict]:
    """``text``/``short``/``nshort``: the request text and short-string schemas of
    the rest of the API."""
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
    }


def incident_responses() -> dict[str, dict]:
    order = obj(["id", "time", "text", "type", "department", "region", "note", "by"], {
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
        "last_order": {"oneOf": [{"type": "null"}, ref("IncidentOrder")],
                       "description": "the order linked last"},
        "examples": {"type": "array", "items": ref("IncidentOrder"),
                     "description": "the newest orders (up to 3)"}}
    incident = obj(list(incident_props), incident_props)
    match = obj([*incident_props, "confidence"], {
        **incident_props, "confidence": {**NUM, "description": "the linker's probability"}})
    return {
        "IncidentOrder": order,
        "Incident": incident,
        "IncidentMatch": match,
        "IncidentDetail": {**incident, "required": [*incident["required"], "orders"],
                           "properties": {**incident_props, "orders": {
                               "type": "array", "items": ref("IncidentOrder")}}},
        "IncidentList": obj(["status", "offset", "limit", "items"], {
            "status": S, "offset": {"type": "integer"}, "limit": {"type": "integer"},
            "items": {"type": "array", "items": ref("Incident")}}),
        "IncidentChange": obj(["incident"], {
            "order_id": {"type": "integer"}, "incident": ref("Incident"),
            "linked": {"type": "boolean", "description": "joined a matching incident"},
            "confidence": NUM, "new_incident": ref("Incident")}),
        "IncidentAudit": obj(["id", "items"], {"id": {"type": "integer"}, "items": {
            "type": "array", "items": {"type": "object"}}}),
        **_dashboard_schemas(),
    }


def _dashboard_schemas() -> dict:
    """The dashboard's read-only answers (docs/dashboard.md)."""
    INT = {"type": "integer"}
    NULL_NUM = {"type": ["number", "null"]}
    rising = {"type": "array", "items": obj(["key", "this", "last", "delta", "growth_pct"], {
        "key": S, "this": INT, "last": INT, "delta": INT, "growth_pct": NULL_NUM,
        "label": {**S, "description": "problem classes: a word for the class (停水, 电梯...)"}})}
    listed = {"id": {**S, "description": "the report directory's name under HOME/reports/"},
              "written_at": {**S, "format": "date-time"}, "column": NULLABLE_S,
              "head": NULLABLE_S, "rows_compared": INT, "changed": INT,
              "changed_pct": NULL_NUM, "agreement": NULL_NUM}
    rows = {"type": "array", "items": {"type": "object"}}
    return {
        "IncidentStats": obj(["days", "tz_minutes", "totals", "per_hour", "per_day",
                               "districts", "rising"], {
            "days": INT, "tz_minutes": INT,
            "totals": obj(["reports", "reports_previous", "open_incidents", "open_reports"], {
                "reports": INT, "reports_previous": INT, "open_incidents": INT,
                "open_reports": INT}),
            "per_hour": {"type": "array", "items": obj(["start", "reports"], {
                "start": {**S, "description": "hour start, ISO 8601 in the tz offset"},
                "reports": INT})},
            "per_day": {"type": "array", "items": obj(["day", "reports"], {
                "day": {**S, "format": "date"}, "reports": INT})},
            "districts": {"type": "array", "items": obj(
                ["region", "open_incidents", "open_reports", "multi_report", "reports"], {
                    "region": NULLABLE_S, "open_incidents": INT, "open_reports": INT,
                    "multi_report": INT, "reports": INT})},
            "rising": obj(["department", "problem"], {"department": rising,
                                                       "problem": rising})}),
        "ChangeReportList": obj(["items"], {"items": {
            "type": "array", "items": obj(list(listed), listed)}}),
        "ChangeReport": obj([*listed, "transitions", "transitions_total", "shifts",
                              "changes_by_predicted_department", "most_confident_changes"], {
            **listed, "rows_without_old_label": {"type": ["integer", "null"]},
            "transitions": {"type": "array", "items": obj(["old", "new", "rows"], {
                "old": S, "new": S, "rows": INT})},
            "transitions_total": INT, "shifts": rows,
            "changes_by_predicted_department": rows, "most_confident_changes": rows}),
    }


def incident_operations(listing: list[dict], body: list[int]) -> list[tuple]:
    """The incident and dashboard operations, in the document's operation tuple
    shape; ``listing``: the offset/limit parameters, ``body``: a body's errors."""
    incident_id = {"name": "incident_id", "in": "path", "required": True,
                   "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}
    incident_listing = [
        {"name": "status", "in": "query", "required": False,
         "schema": {"type": "string", "enum": ["open", "closed", "merged", "all"],
                    "default": "open"}},
        {"name": "region", "in": "query", "required": False, "schema": S},
        listing[1], listing[2]]
    return [
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
