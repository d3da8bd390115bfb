"""The OpenAPI 3.1 description of the rate-card API, served at
/api/v1/openapi.json. Kept next to the views and the serialiser it
describes; tests check that real responses validate against these schemas."""

_STRING_OR_NULL = {"type": ["string", "null"]}
_DATE = {"type": "string", "format": "date"}
_DATE_OR_NULL = {"type": ["string", "null"], "format": "date"}
_MONEY = {"type": "string", "pattern": r"^\d+\.\d{2}$",
          "description": "Pounds and pence as a decimal string, e.g. \"925.00\"."}


def _object(properties: dict, description: str = "") -> dict:
    schema = {"type": "object", "required": list(properties), "properties": properties,
              "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


SCHEMAS = {
    "Error": _object({"error": {"type": "string", "description": "What went wrong, in words."}}),
    "Membership": _object({
        "lot": {"type": "integer", "description": "Lot number."},
        "lot_name": {"type": "string"},
        "status": {"type": "string", "enum": ["active", "suspended"],
                   "description": "Removed memberships are never returned."},
        "available": {"type": "boolean",
                      "description": "True when the provider may take referrals on this lot "
                                     "(not suspended)."},
        "compliance": {"type": "string", "enum": ["compliant", "non_compliant"]},
        "non_compliant_since": _DATE_OR_NULL,
        "started_on": _DATE,
    }, "The provider's place on one of your lots."),
    "Setting": _object({
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "type": {"type": "string", "enum": ["fostering_agency", "childrens_home",
                                            "supported_accommodation", "special_school"]},
        "ofsted_urn": {"type": "string"},
        "ofsted_judgement": {"type": "string",
                             "enum": ["outstanding", "good", "requires_improvement",
                                      "inadequate", "not_yet_inspected"]},
        "ofsted_judgement_date": _DATE_OR_NULL,
        "registered_places": {"type": "integer"},
        "age_min": {"type": "integer"},
        "age_max": {"type": "integer"},
        "gender": {"type": "string", "enum": ["any", "female", "male"]},
        "specialisms": {"type": "array", "items": {"type": "string"}},
        "outcode": {"type": "string",
                    "description": "Outward code of the postcode (e.g. \"E15\"); the full "
                                   "postcode of a children's home is not published."},
        "lots": {"type": "array", "items": {"type": "integer"},
                 "description": "Which of your lots this setting serves."},
        "suspended": {"type": "boolean"},
        "available": {"type": "boolean",
                      "description": "Not suspended, and on an active membership."},
    }, "A home, agency branch, supported accommodation service or school."),
    "CeilingPrice": _object({
        "lot": {"type": "integer"},
        "placement_type_id": {"type": "integer"},
        "placement_type": {"type": "string"},
        "weekly_price": _MONEY,
        "valid_from": _DATE,
        "valid_to": _DATE_OR_NULL,
    }, "The most the provider may charge a week for a placement type, in force today."),
    "AdditionalService": _object({
        "lot": {"type": "integer"},
        "service_item_id": {"type": ["integer", "null"],
                            "description": "The lot's catalogue item; null for an item the "
                                           "provider added."},
        "name": {"type": "string"},
        "unit": {"type": "string", "enum": ["hour", "day", "session", "mile", "week"]},
        "rate": _MONEY,
        "valid_from": _DATE,
        "valid_to": _DATE_OR_NULL,
    }, "An additional-service rate in force today."),
    "Provider": _object({
        "id": {"type": "integer"},
        "name": {"type": "string", "description": "Trading name (legal name if none)."},
        "legal_name": {"type": "string"},
        "company_number": {"type": "string"},
        "available": {"type": "boolean",
                      "description": "May take referrals on at least one of your lots."},
        "suspended": {"type": "boolean",
                      "description": "Suspended from at least one of your lots (see "
                                     "memberships)."},
        "compliance": {"type": "object",
                       "description": "Compliance status by lot number.",
                       "additionalProperties": {"type": "string",
                                                "enum": ["compliant", "non_compliant"]}},
        "memberships": {"type": "array", "items": {"$ref": "#/components/schemas/Membership"}},
        "settings": {"type": "array", "items": {"$ref": "#/components/schemas/Setting"}},
        "ceiling_prices": {"type": "array",
                           "items": {"$ref": "#/components/schemas/CeilingPrice"}},
        "additional_services": {"type": "array",
                                "items": {"$ref": "#/components/schemas/AdditionalService"}},
        "updated_at": {"type": "string", "format": "date-time"},
    }, "An approved provider's rate card on your lots."),
    "PageMeta": _object({
        "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
        "total": {"type": "integer", "minimum": 0,
                  "description": "Providers matching, on every page."},
        "next": {**_STRING_OR_NULL, "format": "uri"},
        "prev": {**_STRING_OR_NULL, "format": "uri"},
        "lots": {"type": "array", "items": {"type": "integer"},
                 "description": "The lot numbers this response covers."},
        "as_of": {**_DATE, "description": "The date (UK) prices and agreements were read on."},
    }),
    "ProviderList": _object({
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Provider"}},
        "meta": {"$ref": "#/components/schemas/PageMeta"},
    }),
    "ProviderDetail": _object({
        "data": {"$ref": "#/components/schemas/Provider"},
        "meta": _object({"lots": {"type": "array", "items": {"type": "integer"}},
                         "as_of": _DATE}),
    }),
}


def _error(description: str) -> dict:
    return {"description": description, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


_AUTH_ERRORS = {
    "401": {**_error("No token, or a token that is unknown or revoked. The "
                     "WWW-Authenticate header says which."),
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}},
    "403": _error("Your authority has no current access agreement for the lot asked for, "
                  "or for any lot."),
}


def document(server_url: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "DPS rate card API",
            "version": "1.0.0",
            "description": (
                "Read-only rate cards for member authorities' own brokerage tools: approved "
                "providers on the lots your authority has a current access agreement for, "
                "their settings, ceiling prices and additional-service rates in force today, "
                "and compliance.\n\n"
                "Authenticate with the API token an administrator of the lead authority "
                "issued to your authority: `Authorization: Bearer dps_...`. Each token "
                "sees only its authority's lots (the lead authority's tokens see every "
                "lot); asking for another lot by number is refused with 403.\n\n"
                "Providers suspended from a lot are listed with `status: suspended` and "
                "`available: false`, so you can stop offering them; providers removed from "
                "a lot are not listed on it at all."),
        },
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/providers": {"get": {
                "operationId": "listProviders",
                "summary": "Approved providers on your lots, with their current prices",
                "description": "Ordered by provider id, so walking the pages is stable.",
                "parameters": [
                    {"name": "lot", "in": "query", "required": False,
                     "description": "Only this lot number (one of your lots).",
                     "schema": {"type": "integer", "minimum": 1}},
                    {"name": "page", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "default": 1}},
                    {"name": "per_page", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                                "default": 25}},
                    {"name": "updated_since", "in": "query", "required": False,
                     "description": "Only providers whose rate card changed at or after this "
                                    "time (ISO 8601; a time without an offset, or a date "
                                    "alone, is UTC): details, settings, prices added or taking "
                                    "effect, suspensions, compliance.",
                     "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {"description": "One page of rate cards.", "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ProviderList"}}}},
                    "400": _error("A parameter is not valid (the message says which)."),
                    **_AUTH_ERRORS,
                },
            }},
            "/providers/{provider_id}": {"get": {
                "operationId": "getProvider",
                "summary": "One provider's rate card on your lots",
                "parameters": [{"name": "provider_id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "responses": {
                    "200": {"description": "The provider's rate card.", "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ProviderDetail"}}}},
                    "404": _error("No such provider on your lots (or removed from them)."),
                    **_AUTH_ERRORS,
                },
            }},
            "/openapi.json": {"get": {
                "operationId": "getOpenApi",
                "summary": "This description",
                "security": [],
                "responses": {"200": {"description": "The OpenAPI 3.1 document.",
                                      "content": {"application/json": {
                                          "schema": {"type": "object"}}}}},
            }},
        },
        "components": {
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "An API token issued to your authority, starting `dps_`."}},
            "schemas": SCHEMAS,
        },
    }
