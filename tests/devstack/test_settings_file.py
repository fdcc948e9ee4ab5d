"""``airflow_settings.yaml``: the committed file keeps the contract the DAGs rely on, and every way a file
can be wrong ends in one message naming the file, the entry and the problem. No Airflow needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cryptoflow.settings import (
    SettingsError,
    load_settings,
    parse_settings,
    point_at_sandbox,
    with_api_keys,
)

REPO = Path(__file__).resolve().parents[2]


def test_committed_file_holds_the_contract():
    settings = load_settings(REPO / "airflow_settings.yaml")
    conns = {c.conn_id: c for c in settings.connections}
    assert set(conns) == {"coingecko", "cmc", "cmc_dex"}
    for conn in conns.values():
        assert conn.conn_type == "http"
        assert conn.port is None
        assert not conn.password, "API keys are never committed"
        assert conn.host.startswith("http://127.0.0.1:8765/")
    assert conns["coingecko"].host.endswith("/coingecko/api/v3")
    assert conns["cmc"].host == conns["cmc_dex"].host == "http://127.0.0.1:8765/cmc"
    assert (conns["coingecko"].plan, conns["cmc"].plan, conns["cmc_dex"].plan) == ("demo", "basic", "basic")
    assert {p.name: p.slots for p in settings.pools} == {"coingecko": 8, "cmc": 8, "cmc_dex": 25, "dbt": 1}
    assert settings.variables == (), "what shapes the DAGs is in cryptoflow.yaml"


def test_astro_template_placeholders_are_skipped():
    doc = {"airflow": {
        "connections": [{"conn_id": None, "conn_type": None, "conn_host": None, "conn_extra": None}],
        "pools": [{"pool_name": None, "pool_slot": None, "pool_description": None}],
        "variables": [{"variable_name": None, "variable_value": None}],
    }}
    settings = parse_settings(doc)
    assert (settings.connections, settings.pools, settings.variables) == ((), (), ())
    assert parse_settings(None).connections == ()


def test_values_are_normalised():
    settings = parse_settings({"airflow": {
        "connections": [
            {"conn_id": "a", "conn_type": "postgres", "conn_port": "5432",
             "conn_extra": '{"sslmode": "require"}'},
            {"conn_id": "b", "conn_uri": "postgres://u:p@h:1/db"},
        ],
        "variables": [
            {"variable_name": "n", "variable_value": 500},
            {"variable_name": "flag", "variable_value": True},
            {"variable_name": "cfg", "variable_value": {"b": 1, "a": [1, 2]}},
            {"variable_name": "empty", "variable_value": ""},
        ],
        "pools": [{"pool_name": "unlimited", "pool_slot": -1}],
    }})
    a, b = settings.connections
    assert (a.port, a.extra) == (5432, {"sslmode": "require"})
    assert b.uri == "postgres://u:p@h:1/db"
    values = {v.key: v.value for v in settings.variables}
    assert values == {"n": "500", "flag": "true", "cfg": '{"a": [1, 2], "b": 1}', "empty": ""}
    assert settings.pools[0].slots == -1


@pytest.mark.parametrize(("text", "expected"), [
    ("airflow:\n  pools:\n    - pool_name: x\n     pool_slot: 3\n", "not valid YAML at line 4"),
    ("- just\n- a list\n", "top level must be a mapping"),
    ("airflow:\n  connection: []\n", "unknown section(s) connection"),
    ("airflow:\n  pools: {pool_name: x}\n", "airflow.pools must be a list"),
    ("airflow:\n  pools:\n    - pool_name: x\n      pool_slot: many\n",
     "airflow.pools[0] (pool_name 'x'): pool_slot must be a whole number, got 'many'"),
    ("airflow:\n  pools:\n    - pool_name: x\n", "pool_slot is required"),
    ("airflow:\n  pools:\n    - pool_name: x\n      pool_slot: -5\n",
     "pool_slot must be -1 (unlimited) or more"),
    ("airflow:\n  connections:\n    - conn_id: api\n      conn_type: http\n      conn_port: eighty\n",
     "airflow.connections[0] (conn_id 'api'): conn_port must be a port number"),
    ("airflow:\n  connections:\n    - conn_id: api\n      conn_type: http\n      conn_port: 70000\n",
     "conn_port must be a port number"),
    ("airflow:\n  connections:\n    - conn_id: api\n      conn_host: h\n",
     "conn_type (or conn_uri) is required"),
    ("airflow:\n  connections:\n    - conn_type: http\n      conn_host: h\n", "conn_id is required"),
    ("airflow:\n  connections:\n    - conn_id: api\n      conn_type: http\n      conn_hots: h\n",
     "unknown field(s) conn_hots"),
    ("airflow:\n  connections:\n    - conn_id: api\n      conn_type: http\n      conn_extra: '{plan: demo'\n",
     "conn_extra is text but not JSON"),
    ("airflow:\n  connections:\n    - conn_id: api\n      conn_type: http\n      conn_extra: [1]\n",
     "conn_extra must be a mapping"),
    ("airflow:\n  connections:\n    - conn_id: api\n      conn_uri: http://h\n      conn_host: h\n",
     "give either conn_uri or the separate fields"),
    ("airflow:\n  connections:\n    - conn_id: a b\n      conn_type: http\n", "may hold only letters"),
    ("airflow:\n  connections:\n    - {conn_id: a, conn_type: http}\n    - {conn_id: a, conn_type: http}\n",
     "conn_id 'a' appears twice"),
    ("airflow:\n  variables:\n    - variable_name: v\n      variable_value:\n", "variable_value is required"),
    ("airflow:\n  variables:\n    - 42\n", "an entry must be a mapping"),
])
def test_bad_files_give_one_clear_message(tmp_path, text, expected):
    path = tmp_path / "airflow_settings.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(SettingsError, match="file not found"):
        load_settings(tmp_path / "nope.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(SettingsError, match="cannot be read"):
        load_settings(binary)


def _file(tmp_path, hosts: dict[str, str]):
    doc = {"airflow": {"connections": [
        {"conn_id": conn_id, "conn_type": "http", "conn_host": host,
         "conn_extra": {"plan": "basic" if conn_id.startswith("cmc") else "demo"}}
        for conn_id, host in hosts.items()
    ]}}
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(doc))  # JSON is YAML
    return load_settings(path)


def test_sandbox_hosts_follow_the_stacks_sandbox(tmp_path):
    settings = _file(tmp_path, {"coingecko": "http://127.0.0.1:8765/coingecko/api/v3",
                                "cmc": "http://localhost:8765/cmc",
                                "cmc_dex": "https://pro-api.coinmarketcap.com"})
    moved = point_at_sandbox(settings, "http://127.0.0.1:9001/")
    hosts = {c.conn_id: c.host for c in moved.connections}
    assert hosts == {"coingecko": "http://127.0.0.1:9001/coingecko/api/v3", "cmc": "http://127.0.0.1:9001/cmc",
                     "cmc_dex": "https://pro-api.coinmarketcap.com"}
    assert point_at_sandbox(settings, None) == settings


def test_api_keys_come_from_the_environment_or_the_sandbox(tmp_path):
    settings = point_at_sandbox(_file(tmp_path, {
        "coingecko": "http://127.0.0.1:8765/coingecko/api/v3",
        "cmc": "http://127.0.0.1:8765/cmc",
        "cmc_dex": "https://pro-api.coinmarketcap.com",
    }), "http://127.0.0.1:9001")
    sandbox_keys = {"coingecko": {"demo": "CG-sandbox-demo-key"}, "cmc": {"basic": "cmc-sandbox-basic"},
                    "cmc_dex": {"basic": "dex-sandbox-basic"}}
    resolved, notes = with_api_keys(settings, {"CRYPTOFLOW_CMC_API_KEY": "from-env"},
                                    sandbox_url="http://127.0.0.1:9001", sandbox_keys=sandbox_keys)
    keys = {c.conn_id: c.password for c in resolved.connections}
    # the environment wins; the sandbox's key only for a host on the sandbox; a real API gets none
    assert keys == {"coingecko": "CG-sandbox-demo-key", "cmc": "from-env", "cmc_dex": None}
    assert notes == ["connection 'cmc_dex' has no API key: set CRYPTOFLOW_CMC_DEX_API_KEY"]
    assert all("sandbox" not in note and "from-env" not in note for note in notes)
    assert "CG-sandbox-demo-key" not in repr(resolved), "keys stay out of reprs"
