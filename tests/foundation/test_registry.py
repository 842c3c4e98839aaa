"""The plugin registry over entry points: discovery, provenance, failures, duplicates."""

from __future__ import annotations

import json

import pytest

from disdiff_core import registry
from disdiff_core.errors import PluginError
from disdiff_core.plugin import KINDS
from support.fixture_dists import install_fixture, run_cli


def test_every_kind_has_builtin_plugins_from_disdiff() -> None:
    for kind in KINDS:
        entries = registry.list_plugins(kind)
        assert entries, kind
        assert {e.distribution for e in entries} == {"disdiff"}


def test_unknown_name_lists_what_exists_and_suggests() -> None:
    with pytest.raises(PluginError) as info:
        registry.get_plugin("metric", "dcii")
    message = str(info.value)
    assert "did you mean 'dci'" in message.lower()
    assert "factorvae" in message


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(PluginError, match="kinds are"):
        registry.list_plugins("colour")


def test_third_party_plugin_is_listed_with_its_distribution(tmp_path) -> None:
    install_fixture(tmp_path, "acme-metrics", "acme_metrics", "echo")
    result = run_cli(["plugins", "list", "--kind", "metric", "--json"], site=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["echo"]["distribution"] == "acme-metrics"
    assert rows["echo"]["version"] == "1.2.3"
    assert rows["echo"]["error"] is None
    assert rows["echo"]["description"].startswith("test fixture")
    assert rows["dci"]["distribution"] == "disdiff"


def test_freshly_installed_plugin_is_seen_by_a_new_process(tmp_path) -> None:
    install_fixture(tmp_path, "acme-one", "acme_one", "first")
    before = run_cli(["plugins", "list", "--json"], site=tmp_path)
    assert "second" not in {row["name"] for row in json.loads(before.stdout)}
    install_fixture(tmp_path, "acme-two", "acme_two", "second")
    after = run_cli(["plugins", "list", "--json"], site=tmp_path)
    assert {"first", "second"} <= {row["name"] for row in json.loads(after.stdout)}


def test_broken_plugin_is_reported_and_does_not_hide_others(tmp_path) -> None:
    install_fixture(tmp_path, "acme-broken", "acme_broken", "broken", broken=True)
    listing = run_cli(["plugins", "list", "--json"], site=tmp_path)
    assert listing.returncode == 0, listing.stderr
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    assert "a_module_that_is_not_installed_anywhere" in rows["broken"]["error"]
    assert rows["broken"]["distribution"] == "acme-broken"
    assert rows["dci"]["error"] is None
    shown = run_cli(["plugins", "show", "broken"], site=tmp_path)
    assert shown.returncode == 1
    assert "acme-broken" in shown.stderr and "failed to load" in shown.stderr
    assert "Traceback" not in shown.stderr


def test_same_name_from_two_distributions_names_both(tmp_path) -> None:
    install_fixture(tmp_path, "acme-a", "acme_a", "twin")
    install_fixture(tmp_path, "acme-b", "acme_b", "twin")
    result = run_cli(["plugins", "show", "twin", "--kind", "metric"], site=tmp_path)
    assert result.returncode == 1
    assert "registered twice" in result.stderr
    assert "acme-a" in result.stderr and "acme-b" in result.stderr


def test_third_party_plugin_builds_through_the_registry(tmp_path, monkeypatch) -> None:
    install_fixture(tmp_path, "acme-build", "acme_build", "echo2")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.refresh()
    try:
        metric = registry.build("metric", "echo2", {"value": 3})
        assert metric() == {"value": 3.0}
    finally:
        registry.refresh()


def test_plugins_show_states_bounds_in_words() -> None:
    from typer.testing import CliRunner

    from disdiff_cli.app import app

    shown = CliRunner().invoke(app, ["plugins", "show", "fid", "--kind", "metric"],
                               terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "(≥ 1)" in shown.output and "Ge(" not in shown.output
