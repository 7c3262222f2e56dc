"""Record a contact (conformance scenario json-schema-2020-12).

Its parameters use JSON Schema 2020-12 keywords ($schema, $defs with an $anchor, $ref,
allOf/anyOf, if/then/else), which Kiwi lists unchanged as the tool's input schema and checks
arguments against.
"""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
PARAMETERS = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def execute(params, context):
    return {"contact": params}
