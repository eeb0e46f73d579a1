"""Validates the OAuth side of the protocol with airbyte-protocol-models: argv = spec messages,
read messages, check messages (JSON lines). Exits non-zero, saying why, on the first failure."""

import json
import sys

import jsonschema
from airbyte_protocol import models

parse = getattr(models.AirbyteMessage, "model_validate_json", None) or models.AirbyteMessage.parse_raw


def messages(path):
    with open(path) as f:
        return [(line, parse(line)) for line in f if line.strip()]


def fail(why):
    print(f"FAILED: {why}")
    sys.exit(1)


spec_path, read_path, check_path = sys.argv[1:4]
(spec_line, spec), = messages(spec_path)
auth = spec.spec.advanced_auth
if auth is None or auth.predicate_key != ["credentials", "auth_type"] or auth.predicate_value != "oauth2.0":
    fail(f"advanced_auth: {auth}")
connection = json.loads(spec_line)["spec"]["connectionSpecification"]
# Every path the platform writes OAuth values to is a property of the spec.
oauth = auth.oauth_config_specification
for block in (oauth.complete_oauth_output_specification, oauth.complete_oauth_server_output_specification):
    for name, prop in block["properties"].items():
        node = connection
        for step in prop["path_in_connector_config"]:
            node = node["properties"][step]
        print(f"advanced_auth: {name} -> {'.'.join(prop['path_in_connector_config'])}")

total = 0
for path, at_least in ((read_path, 2), (check_path, 0)):
    lines = messages(path)
    total += len(lines)
    controls = [(line, m) for line, m in lines if m.type == models.Type.CONTROL]
    if len(controls) < at_least:
        fail(f"{path}: {len(controls)} CONTROL messages, expected at least {at_least}")
    for line, m in controls:
        c = m.control
        if c.type != models.OrchestratorType.CONNECTOR_CONFIG or c.connectorConfig is None:
            fail(f"not a CONNECTOR_CONFIG control: {line[:200]}")
        config = c.connectorConfig.config
        if hasattr(config, "dict"):
            config = config.dict()
        jsonschema.validate(config, connection)
        if not config["credentials"].get("access_token"):
            fail("a CONTROL config without the new access token")
    print(f"{path}: {len(lines)} messages valid, {len(controls)} CONTROL (CONNECTOR_CONFIG, config valid against the spec)")
print(f"OK: spec and {total} messages valid against airbyte-protocol-models")
