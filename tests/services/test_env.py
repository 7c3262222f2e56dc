"""EnvResolver's layers, in order, over real files in a temporary project."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kiwi_mcp.kernel.errors import ConfigInvalid, ParseError, TemplateError
from kiwi_mcp.kernel.services.env.resolver import EnvConfig, EnvResolver, read_text_or_none

HOST = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/me",
    "LANG": "C.UTF-8",
    "LC_ALL": "C",
    "TERM": "xterm",
    "AWS_SECRET_ACCESS_KEY": "host-only-value",
    "EDITOR": "vi",
}


def _resolver(tmp_path: Path, host: dict[str, str] | None = None, **kwargs: object) -> EnvResolver:
    return EnvResolver(
        host_env=HOST if host is None else host,
        project_path=tmp_path / "project",
        user_space=tmp_path / "user",
        **kwargs,  # type: ignore[arg-type]
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_only_the_allow_list_of_the_host_environment_is_passed_on(tmp_path: Path) -> None:
    resolved = _resolver(tmp_path).resolve(env_config={}, config_env={}, wanted=[], secrets=[])
    assert dict(resolved.env) == {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/me",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "TERM": "xterm",
    }
    assert set(resolved.sources.values()) == {"host"}
    assert resolved.interpreter is None


def test_a_wanted_name_set_in_the_host_environment_is_passed_on(tmp_path: Path) -> None:
    resolved = _resolver(tmp_path).resolve(
        env_config={}, config_env={}, wanted=["EDITOR"], secrets=[]
    )
    assert resolved.env["EDITOR"] == "vi"
    assert resolved.sources["EDITOR"] == "host"


def test_dotenv_files_apply_in_order_and_only_for_wanted_names(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _write(tmp_path / "user" / ".env", "REGION=user\nONLY_USER=u\nUNWANTED=x\n")
    _write(project / ".ai" / ".env", "REGION=ai\n")
    _write(project / ".env", "REGION=project\nEDITOR=nano\n")
    _write(project / ".env.local", "REGION=local\n")
    resolved = _resolver(tmp_path).resolve(
        env_config={}, config_env={}, wanted=["REGION", "ONLY_USER", "EDITOR"], secrets=[]
    )
    assert resolved.env["REGION"] == "local"
    assert resolved.sources["REGION"] == f"dotenv:{project / '.env.local'}"
    assert resolved.env["ONLY_USER"] == "u"
    assert resolved.sources["ONLY_USER"] == f"dotenv:{tmp_path / 'user' / '.env'}"
    assert resolved.env["EDITOR"] == "nano"  # a dotenv file beats the host environment
    assert "UNWANTED" not in resolved.env


def test_declared_secrets_go_to_dotenv_secrets_and_never_into_env(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _write(project / ".env", "API_KEY=from-dotenv\n")
    host = {**HOST, "API_KEY": "from-host"}
    resolved = _resolver(tmp_path, host).resolve(
        env_config={"env": {"X": "${API_KEY:-none}"}},
        config_env={},
        wanted=["API_KEY"],
        secrets=["API_KEY", "AWS_SECRET_ACCESS_KEY", "MISSING"],
    )
    assert dict(resolved.dotenv_secrets) == {
        "API_KEY": "from-dotenv",
        "AWS_SECRET_ACCESS_KEY": "host-only-value",
    }
    assert dict(resolved.secret_sources) == {
        "API_KEY": f"dotenv:{project / '.env'}",
        "AWS_SECRET_ACCESS_KEY": "host",
    }
    assert "API_KEY" not in resolved.env
    assert resolved.env["X"] == "none"  # a secret is not visible to env templating
    assert "from-dotenv" not in repr(resolved)
    assert "from-dotenv" not in str(resolved.summary())


def test_env_config_env_expands_in_order_against_what_is_resolved_so_far(tmp_path: Path) -> None:
    _write(tmp_path / "project" / ".env", "BASE_URL=https://api.test\n")
    resolved = _resolver(tmp_path).resolve(
        env_config={
            "env": {
                "PYTHONUNBUFFERED": 1,
                "ENDPOINT": "${BASE_URL}/v1",
                "FULL": "${ENDPOINT}/items?lang=${LANG}",
                "FALLBACK": "${NOT_SET:-${HOME}/default}",
                "LITERAL": "$${NOT_EXPANDED}",
            }
        },
        config_env={},
        wanted=[],
        secrets=[],
    )
    assert resolved.env["BASE_URL"] == "https://api.test"  # pulled in by the reference
    assert resolved.env["PYTHONUNBUFFERED"] == "1"
    assert resolved.env["FULL"] == "https://api.test/v1/items?lang=C.UTF-8"
    assert resolved.env["FALLBACK"] == "/home/me/default"
    assert resolved.env["LITERAL"] == "${NOT_EXPANDED}"
    assert resolved.sources["FULL"] == "env_config"


def test_an_unset_variable_without_default_is_a_template_error_naming_the_key(
    tmp_path: Path,
) -> None:
    with pytest.raises(TemplateError) as caught:
        _resolver(tmp_path).resolve(
            env_config={"env": {"OK": "1", "BROKEN": "x-${NOPE}"}},
            config_env={},
            wanted=[],
            secrets=[],
        )
    assert caught.value.message == "env_config.env.BROKEN: ${NOPE} is not set"
    assert caught.value.hint == "Set NOPE in .env or the environment, or write ${NOPE:-default}."


def test_a_non_environment_reference_in_env_config_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(TemplateError) as caught:
        _resolver(tmp_path).resolve(
            env_config={"env": {"P": "${params.x}"}}, config_env={}, wanted=[], secrets=[]
        )
    assert caught.value.message == "env_config.env.P: '${params.x}' is not an environment reference"


def test_config_env_wins_over_every_other_layer(tmp_path: Path) -> None:
    _write(tmp_path / "project" / ".env", "MODE=dotenv\n")
    resolved = _resolver(tmp_path).resolve(
        env_config={"env": {"MODE": "env_config", "LANG": "de_DE.UTF-8"}},
        config_env={"MODE": "config", "LANG": "fr_FR.UTF-8"},
        wanted=["MODE"],
        secrets=[],
    )
    assert resolved.env["MODE"] == "config"
    assert resolved.env["LANG"] == "fr_FR.UTF-8"
    assert resolved.sources["MODE"] == "config"


def test_empty_path_entries_are_dropped_so_the_current_folder_never_joins_path(
    tmp_path: Path,
) -> None:
    resolved = _resolver(tmp_path).resolve(
        env_config={"env": {"PATH": "${KIWI_VENV_BIN:-}:${PATH}:"}},
        config_env={},
        wanted=[],
        secrets=[],
    )
    assert resolved.env["PATH"] == "/usr/bin:/bin"


def test_the_venv_layer_sets_the_interpreter_variable_and_venv_bin(tmp_path: Path) -> None:
    python = tmp_path / "project" / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    resolved = _resolver(tmp_path).resolve(
        env_config={
            "interpreter": {"type": "venv_python", "var": "KIWI_PYTHON", "fallback": "kernel"},
            "env": {"PATH": "${KIWI_VENV_BIN:-}:${PATH}"},
        },
        config_env={},
        wanted=[],
        secrets=[],
    )
    assert resolved.interpreter == str(python)
    assert resolved.env["KIWI_PYTHON"] == str(python)
    assert resolved.env["VIRTUAL_ENV"] == str(python.parent.parent)
    assert resolved.env["PATH"] == f"{python.parent}:/usr/bin:/bin"
    assert resolved.sources["KIWI_PYTHON"] == "interpreter"


def test_a_malformed_dotenv_line_fails_only_chains_asking_for_a_key_of_that_file(
    tmp_path: Path,
) -> None:
    dotenv = tmp_path / "project" / ".env"
    _write(dotenv, 'GOOD=1\nPEM="-----BEGIN-----\nabc\n-----END-----"\nnot a line\n')
    _write(tmp_path / "user" / ".env", "OTHER=2\n")
    resolver = _resolver(tmp_path)
    fine = resolver.resolve(env_config={}, config_env={}, wanted=["OTHER"], secrets=[])
    assert fine.env["OTHER"] == "2"
    for wanted, secrets in ((["GOOD"], []), ([], ["PEM"])):
        with pytest.raises(ParseError) as caught:
            resolver.resolve(env_config={}, config_env={}, wanted=wanted, secrets=secrets)
        assert caught.value.message.startswith(f"{dotenv}:5: a statement could not be read")


def test_a_multi_line_pem_value_reaches_the_chain_that_asks_for_it(tmp_path: Path) -> None:
    _write(tmp_path / "project" / ".env", 'export PEM="-----BEGIN-----\nabc\n-----END-----"\n')
    resolved = _resolver(tmp_path).resolve(env_config={}, config_env={}, wanted=[], secrets=["PEM"])
    assert resolved.dotenv_secrets["PEM"] == "-----BEGIN-----\nabc\n-----END-----"


@pytest.mark.parametrize(
    ("env_config", "message"),
    [
        ({"envv": {}}, "env_config.envv: unknown field (known: interpreter, env)"),
        ({"env": ["A=1"]}, "env_config.env: expected a mapping, got list"),
        ({"env": {"A": ["x"]}}, "env_config.env.A: expected a string, got list"),
        ({"env": {"A-B": "x"}}, "env_config.env: 'A-B' is not an environment variable name"),
        (
            {"interpreter": {"type": "conda"}},
            "env_config.interpreter.type: expected one of venv_python, node_modules, "
            "system_binary, version_manager",
        ),
        (
            {"interpreter": {"type": "system_binary"}},
            "env_config.interpreter.binary: required for type system_binary",
        ),
        (
            {"interpreter": {"type": "version_manager", "manager": "conda"}},
            "env_config.interpreter.manager: expected one of pyenv, nvm, rbenv, asdf",
        ),
        (
            {"interpreter": {"type": "venv_python", "search": ".venv"}},
            "env_config.interpreter.search: expected a list of strings, got str",
        ),
        (
            {"interpreter": {"type": "venv_python", "colour": "red"}},
            "env_config.interpreter.colour: unknown field (known: type, var, search, fallback, "
            "binary, manager, version, plugin)",
        ),
    ],
)
def test_a_malformed_env_config_names_the_field(env_config: object, message: str) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        EnvConfig.from_dict(env_config)
    assert caught.value.message == message


def test_resolving_reads_only_the_dotenv_files_and_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    read: list[Path] = []

    def recording_read(path: Path) -> str | None:
        read.append(path)
        return read_text_or_none(path)

    before = sorted(tmp_path.rglob("*"))
    _resolver(tmp_path, read_text=recording_read).resolve(
        env_config={"env": {"A": "1"}}, config_env={}, wanted=["X"], secrets=["Y"]
    )
    assert sorted(tmp_path.rglob("*")) == before
    project = tmp_path / "project"
    assert read == [
        tmp_path / "user" / ".env",
        project / ".ai" / ".env",
        project / ".env",
        project / ".env.local",
    ]


def test_on_windows_host_names_are_matched_without_case_and_startup_variables_kept(
    tmp_path: Path,
) -> None:
    host = {"Path": "C:\\Windows;C:\\Tools", "SystemRoot": "C:\\Windows", "Other": "x"}
    resolved = _resolver(tmp_path, host, platform="win32").resolve(
        env_config={"env": {"PATH": "${KIWI_VENV_BIN:-};${PATH}"}},
        config_env={},
        wanted=[],
        secrets=[],
    )
    assert dict(resolved.env) == {"PATH": "C:\\Windows;C:\\Tools", "SYSTEMROOT": "C:\\Windows"}


def test_env_config_round_trips_through_to_dict() -> None:
    raw = {
        "interpreter": {"type": "venv_python", "var": "KIWI_PYTHON", "search": [".venv"]},
        "env": {"A": "1", "B": "${A}"},
    }
    config = EnvConfig.from_dict(raw)
    assert EnvConfig.from_dict(config.to_dict()) == config
    assert config.referenced_names() == {"A"}
