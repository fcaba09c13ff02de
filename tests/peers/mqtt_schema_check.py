"""Validate MQTT payloads against edgecite's JSON schemas (schemas/mqtt/*.json).

Usage: mqtt_schema_check.py SCHEMA_DIR PAYLOADS_JSON
PAYLOADS_JSON is a list of [kind, payload]; each payload is checked against
SCHEMA_DIR/{kind}.json with the Draft 2020-12 validator and format checking.
Exits 1 listing every failure.
"""
import json
import pathlib
import sys

import jsonschema

schema_dir = pathlib.Path(sys.argv[1])
items = json.loads(pathlib.Path(sys.argv[2]).read_text())
validators = {}
failures = []
for i, (kind, payload) in enumerate(items):
    if kind not in validators:
        schema = json.loads((schema_dir / f"{kind}.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        validators[kind] = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    for err in validators[kind].iter_errors(payload):
        failures.append(f"#{i} {kind}: {'/'.join(map(str, err.absolute_path))}: {err.message}")
if failures:
    print("\n".join(failures))
    sys.exit(1)
print(f"{len(items)} payloads valid ({', '.join(sorted(validators))})")
