"""The OpenAPI description stays true: every route described, every limit the server's."""

from __future__ import annotations

from typing import Any

import schemathesis

from context_bot.config import Settings
from context_bot.endpoint.mcp import MCP_PATH
from context_bot.endpoint.openapi import build_spec
from context_bot.endpoint.routes import TokenService, create_app
from context_bot.endpoint.token_request import FIELDS, MAX_NAME, MAX_PARTICIPANT_METADATA


def routes_of_the_app() -> set[tuple[str, str]]:
    app = create_app(TokenService(Settings(), admin=None, rooms=None))
    return {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"  # aiohttp adds HEAD to GET
        # MCP describes /mcp itself (JSON-RPC over any method); the spec names it in prose.
        and route.resource.canonical != MCP_PATH
    }


def routes_of_the_spec(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in spec["paths"].items() for method in item}


def test_the_spec_describes_exactly_the_routes_the_app_serves() -> None:
    spec = build_spec(["repo"], auth_required=False)
    assert routes_of_the_spec(spec) == routes_of_the_app()
    app = create_app(TokenService(Settings(), admin=None, rooms=None))
    assert any(
        r.resource is not None and r.resource.canonical == MCP_PATH for r in app.router.routes()
    )
    assert "`/mcp`" in spec["info"]["description"]


def test_the_token_request_lists_the_fields_and_limits_the_server_applies() -> None:
    spec = build_spec(["repo"], auth_required=False)
    schema = spec["paths"]["/token"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == set(FIELDS)
    assert schema["additionalProperties"] is False
    assert schema["properties"]["room_name"]["maxLength"] == MAX_NAME
    assert schema["properties"]["participant_metadata"]["maxLength"] == MAX_PARTICIPANT_METADATA
    assert schema["properties"]["repo"] == {
        "enum": ["repo"],
        "description": schema["properties"]["repo"]["description"],
    }


def test_security_is_required_only_in_authenticated_mode() -> None:
    assert "security" not in build_spec(["r"], auth_required=False)["paths"]["/token"]["post"]
    secured = build_spec(["r"], auth_required=True)["paths"]["/token"]["post"]
    assert secured["security"] == [{"bearer": []}, {"apiKey": []}]


def test_schemathesis_loads_the_spec_and_finds_every_operation() -> None:
    schema = schemathesis.openapi.from_dict(build_spec(["repo"], auth_required=True))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.path, op.method) for op in operations} == routes_of_the_app()
