"""Settings: defaults, then YAML, then the environment; every bad value named clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from context_bot.config import FIELDS, Field, Settings, load_settings
from context_bot.errors import ConfigError
from context_bot.knowledge.loading import load_knowledge


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "context-bot.yaml"
    path.write_text(text)
    return path


def test_defaults_serve_the_working_directory_knowledge_on_port_8080() -> None:
    settings = load_settings(None, {})
    assert settings.port == 8080
    assert settings.knowledge_path == Path("knowledge")
    assert settings.bot_identity == "context-bot"
    assert settings.livekit.missing() == ["LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"]


def test_yaml_overrides_defaults_and_environment_overrides_yaml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "livekit:\n  url: ws://yaml:7880\n  api_key: k\n  api_secret: s\n"
        "http:\n  port: 9000\nbot:\n  identity: yaml-bot\n",
    )
    settings = load_settings(path, {"PORT": "9100", "LIVEKIT_URL": "wss://env.example"})
    assert settings.port == 9100
    assert settings.livekit.url == "wss://env.example"
    assert settings.livekit.api_key == "k"
    assert settings.bot_identity == "yaml-bot"


def test_config_path_can_come_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "log:\n  level: debug\n")
    assert load_settings(None, {"CONTEXT_BOT_CONFIG": str(path)}).log_level == "debug"


def test_secrets_never_appear_in_repr() -> None:
    settings = load_settings(
        None, {"LIVEKIT_API_KEY": "key-abc", "LIVEKIT_API_SECRET": "very-secret-value"}
    )
    text = repr(settings)
    assert "very-secret-value" not in text
    assert "key-abc" not in text


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"PORT": "eighty"}, ["http.port", "PORT", "whole number"]),
        ({"PORT": "70000"}, ["http.port", "between 0 and 65535"]),
        ({"LIVEKIT_URL": "localhost:7880"}, ["livekit.url", "ws://"]),
        ({"CONTEXT_BOT_LOG_LEVEL": "loud"}, ["log.level", "debug, info"]),
        ({"CONTEXT_BOT_TOKEN_TTL": "5"}, ["tokens.ttl_seconds", "between 60"]),
    ],
)
def test_a_bad_environment_value_names_the_setting_and_the_fix(
    env: dict[str, str], names: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env)
    for name in names:
        assert name in str(caught.value)


def test_a_wrong_yaml_type_names_the_setting(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  port: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"http\.port \(PORT\) must be a whole number"):
        load_settings(path, {})


def test_broken_yaml_says_where(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  port: 8080\n bad indent: [\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_settings(path, {})


def test_an_unknown_setting_is_refused_rather_than_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  prot: 8080\n")
    with pytest.raises(ConfigError, match=r"unknown setting http\.prot"):
        load_settings(path, {})


def test_an_unknown_section_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "htp:\n  port: 8080\n")
    with pytest.raises(ConfigError, match=r"unknown section 'htp' \(known: bot, draft, http"):
        load_settings(path, {})


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml", {})


def test_a_secret_of_the_wrong_type_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write(tmp_path, "livekit:\n  api_secret: 123456789\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "123456789" not in str(caught.value)
    assert "livekit.api_secret" in str(caught.value)


def test_require_livekit_names_every_missing_setting_and_dev_mode() -> None:
    settings = Settings()
    with pytest.raises(ConfigError) as caught:
        settings.require_livekit()
    message = str(caught.value)
    assert (
        "livekit.url (LIVEKIT_URL), livekit.api_key (LIVEKIT_API_KEY), "
        "livekit.api_secret (LIVEKIT_API_SECRET)"
    ) in message
    assert "--dev" in message


def test_the_example_config_file_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "context-bot.example.yaml"
    settings = load_settings(example, {})
    assert settings.port == 8080


def test_warmup_is_on_by_default_and_a_switch_in_the_environment() -> None:
    assert load_settings(None, {}).warmup is True
    assert load_settings(None, {"CONTEXT_BOT_WARMUP": "false"}).warmup is False


def test_join_concurrency_is_bounded() -> None:
    assert load_settings(None, {"CONTEXT_BOT_JOIN_CONCURRENCY": "2"}).join_concurrency == 2
    with pytest.raises(ConfigError, match="CONTEXT_BOT_JOIN_CONCURRENCY"):
        load_settings(None, {"CONTEXT_BOT_JOIN_CONCURRENCY": "0"})


@pytest.mark.parametrize("spec", FIELDS, ids=lambda spec: spec.yaml_name)
def test_every_bad_value_names_its_setting_as_users_write_it(tmp_path: Path, spec: Field) -> None:
    """The YAML key and the variable, never the Python field (`knowledge_dir`)."""
    path = write(tmp_path, f"{spec.section}:\n  {spec.key}: [[1]]\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert str(caught.value).startswith(f"{spec.yaml_name} ({spec.env})")
    assert spec.attr.split(".")[-1] not in str(caught.value).replace(spec.key, "")


@pytest.mark.parametrize("what", ["missing", "a file"])
def test_a_repository_that_is_no_folder_names_the_setting_and_the_flag(
    tmp_path: Path, what: str
) -> None:
    repo = tmp_path / "repo"
    if what == "a file":
        repo.write_text("not a folder\n")
    with pytest.raises(ConfigError) as caught:
        load_knowledge(repo / "knowledge", repo)
    assert "knowledge.repo (CONTEXT_BOT_REPO) or --repo" in str(caught.value)


def test_a_missing_knowledge_folder_is_no_error(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("print('hi')\n")
    knowledge = load_knowledge(tmp_path / "knowledge", tmp_path)
    assert [e.path for e in knowledge.listing().entries] == ["main.py"]
    assert knowledge.listing().entries[0].documented == 0
