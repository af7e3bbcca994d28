"""The kubectl plugin's list, partner and profile views, targets, patches and completion."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from whatsapp_operator import constants
from whatsapp_operator.kubectl import completion
from whatsapp_operator.kubectl.plugin import build_parser, main
from whatsapp_operator.kubectl.resources import (
    CLUSTER_PARTNER,
    INSTANCE,
    PARTNER,
    PROFILE,
    Kind,
    parse_target,
)
from whatsapp_operator.kubectl.tables import (
    as_list,
    dump,
    format_partner,
    format_profile,
    format_rows,
    instance_rows,
    linking_cell,
    short_age,
)
from whatsapp_operator.kubectl.view import (
    PluginError,
    pair_request,
    pair_request_patch,
    pairing_phone,
    pause_patch,
)

NOW = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)


def instance(name: str, namespace: str = "team-a", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": "2026-01-02T09:00:00Z",
        },
        "spec": {"instance": {"id": 7105000001}},
        "status": status,
    }


LINKED = instance(
    "sales",
    state="authorized",
    account={"phone": "79001112233"},
    conditions=[
        {"type": "Ready", "status": "True", "reason": "InSync"},
        {"type": "Synced", "status": "True", "reason": "InSync"},
    ],
    linking={"phase": "NotNeeded"},
)
WAITING = instance(
    "support",
    namespace="team-b",
    state="notAuthorized",
    conditions=[{"type": "Ready", "status": "False", "reason": "NotAuthorized"}],
    linking={"phase": "CodeReady", "windowEndsAt": "2026-01-02T12:08:30Z"},
)


# ---------------------------------------------------------------- targets


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("sales", INSTANCE, "sales"),
        ("wai/sales", INSTANCE, "sales"),
        ("partner/gapi", PARTNER, "gapi"),
        ("wap/gapi", PARTNER, "gapi"),
        ("WhatsAppPartner/gapi", PARTNER, "gapi"),
        ("whatsapppartners.whatsapp-operator.io/gapi", PARTNER, "gapi"),
        ("clusterpartner/shared", CLUSTER_PARTNER, "shared"),
        ("cwap/shared", CLUSTER_PARTNER, "shared"),
        ("profile/fleet", PROFILE, "fleet"),
        ("wasp/fleet", PROFILE, "fleet"),
    ],
)
def test_parse_target(text: str, kind: Kind, name: str) -> None:
    assert parse_target(text) == (kind, name)


@pytest.mark.parametrize("text", ["pod/x", "partner/", "partner/a/b", ""])
def test_parse_target_rejects(text: str) -> None:
    with pytest.raises(PluginError):
        parse_target(text)


# ---------------------------------------------------------------- arguments


def test_list_arguments() -> None:
    args = build_parser().parse_args(["list", "-A", "-l", "team=a,tier!=x", "-o", "wide"])
    assert (args.command, args.all_namespaces, args.selector, args.output) == (
        "list",
        True,
        "team=a,tier!=x",
        "wide",
    )
    plain = build_parser().parse_args(["list", "-n", "ns"])
    assert (plain.all_namespaces, plain.selector, plain.output, plain.namespace) == (
        False,
        None,
        None,
        "ns",
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["list", "-o", "name"])


def test_status_output_and_targets() -> None:
    args = build_parser().parse_args(["status", "profile/fleet", "-o", "yaml"])
    assert (args.name, args.output) == ("profile/fleet", "yaml")
    assert build_parser().parse_args(["status", "sales"]).output is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["status", "sales", "-o", "wide"])


@pytest.mark.parametrize("command", ["relink", "pause", "resume"])
def test_name_subcommands(command: str) -> None:
    args = build_parser().parse_args([command, "sales", "-n", "ns"])
    assert (args.command, args.name, args.namespace) == (command, "sales", "ns")


def test_pair_edits_the_spec_only_when_asked() -> None:
    assert build_parser().parse_args(["pair", "s", "--phone", "1234567"]).edit_spec is False
    args = build_parser().parse_args(["pair", "s", "--phone", "1234567", "--edit-spec"])
    assert args.edit_spec is True


# ---------------------------------------------------------------- patches


def test_pause_patch_writes_the_value_the_operator_reads() -> None:
    paused = pause_patch(True)["metadata"]["annotations"]
    assert constants.is_paused(paused)
    assert pause_patch(False) == {"metadata": {"annotations": {constants.ANNOTATION_PAUSED: None}}}


def test_pair_request_patch() -> None:
    assert pair_request_patch("79001234567", "2026-01-02T12:00:00Z") == {
        "metadata": {
            "annotations": {
                constants.ANNOTATION_PAIR_PHONE: "79001234567",
                constants.ANNOTATION_RELINK: "2026-01-02T12:00:00Z",
            }
        }
    }
    # None removes the request (JSON merge patch).
    assert pair_request_patch(None, None) == {
        "metadata": {"annotations": {constants.ANNOTATION_PAIR_PHONE: None}}
    }


def test_pairing_phone_follows_the_annotation_then_the_spec() -> None:
    qr: dict[str, Any] = {"metadata": {}, "spec": {"authorization": {"method": "QRCode"}}}
    assert pairing_phone(qr) is None
    by_spec = {"spec": {"authorization": {"method": "PhoneNumber", "phoneNumber": "4930123456"}}}
    assert pairing_phone(by_spec) == "4930123456"
    annotated = {
        **by_spec,
        "metadata": {"annotations": {constants.ANNOTATION_PAIR_PHONE: "79001234567"}},
    }
    assert pair_request(annotated) == "79001234567"
    assert pairing_phone(annotated) == "79001234567"
    # What the operator ignores, the plugin ignores too.
    bad = {**qr, "metadata": {"annotations": {constants.ANNOTATION_PAIR_PHONE: "+7900"}}}
    assert pair_request(bad) is None
    assert pairing_phone(bad) is None


# ---------------------------------------------------------------- list


def test_instance_rows() -> None:
    rows = instance_rows([WAITING, LINKED], NOW, all_namespaces=False, wide=False)
    assert rows[0] == ["NAME", "STATE", "PHONE", "READY", "SYNCED", "LINKING", "AGE"]
    assert rows[1] == ["sales", "authorized", "+79001112233", "True", "True", "NotNeeded", "3h"]
    assert rows[2] == ["support", "notAuthorized", "-", "False", "-", "CodeReady 8m", "3h"]


def test_instance_rows_all_namespaces_and_wide() -> None:
    paused = instance("zeta", namespace="team-a")
    paused["metadata"]["annotations"] = {constants.ANNOTATION_PAUSED: "true"}
    rows = instance_rows([WAITING, paused, LINKED], NOW, all_namespaces=True, wide=True)
    assert rows[0][0] == "NAMESPACE"
    assert rows[0][-3:] == ["INSTANCE", "PAUSED", "REASON"]
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("team-a", "sales"),
        ("team-a", "zeta"),
        ("team-b", "support"),
    ]
    assert rows[1][-3:] == ["7105000001", "no", "InSync"]
    assert rows[2][-3:] == ["7105000001", "yes", "-"]
    assert rows[2][2:7] == ["-", "-", "-", "-", "-"]  # no status yet


def test_format_rows_aligns_columns_like_kubectl() -> None:
    text = format_rows([["NAME", "STATE"], ["a-long-name", "x"], ["b", "y"]])
    lines = text.splitlines()
    assert lines[0] == "NAME          STATE"
    assert lines[1] == "a-long-name   x"
    assert lines[2].index("y") == lines[0].index("STATE")


@pytest.mark.parametrize(
    ("linking", "cell"),
    [
        ({}, "-"),
        ({"phase": "Waiting", "windowEndsAt": "2026-01-02T12:01:30Z"}, "Waiting 90s"),
        ({"phase": "CodeReady", "windowEndsAt": "2026-01-02T11:59:00Z"}, "CodeReady 0s"),
        ({"phase": "Expired", "windowEndsAt": "2026-01-02T11:00:00Z"}, "Expired"),
        ({"phase": "Linked"}, "Linked"),
    ],
)
def test_linking_cell(linking: dict[str, Any], cell: str) -> None:
    assert linking_cell({"status": {"linking": linking}}, NOW) == cell


def test_short_age() -> None:
    assert short_age("2026-01-02T11:59:15Z", NOW) == "45s"
    assert short_age("2025-12-30T12:00:00Z", NOW) == "3d"
    assert short_age(None, NOW) == "<unknown>"


def test_json_and_yaml_as_kubectl_prints_a_list() -> None:
    document = as_list({"apiVersion": "x/v1", "kind": "WhatsAppInstanceList", "items": [LINKED]})
    assert document["kind"] == "List"
    assert document["apiVersion"] == "v1"
    assert json.loads(dump(document, "json")) == document
    assert dump(document, "json").splitlines()[1].startswith('    "apiVersion"')
    assert yaml.safe_load(dump(document, "yaml")) == document


# ---------------------------------------------------------------- partner and profile


def test_format_partner() -> None:
    obj = {
        "kind": constants.PARTNER_KIND,
        "metadata": {"name": "gapi", "namespace": "team-a", "generation": 2},
        "spec": {
            "apiUrl": "https://api.green-api.com",
            "tokenSecretRef": {"name": "gapi-credentials"},
            "checkSeconds": 300,
        },
        "status": {
            "observedGeneration": 2,
            "instances": 4,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "CredentialsValid", "message": "ok"}
            ],
        },
    }
    text = format_partner(obj, [], NOW)
    assert text.splitlines()[0] == "WhatsAppPartner: gapi  (namespace team-a)"
    assert "Observed:   generation 2 of 2" in text
    assert "Credentials: Secret gapi-credentials (checked every 300 s)" in text
    assert "Instances:  4 live" in text
    ready = next(line for line in text.splitlines() if line.strip().startswith("Ready "))
    assert ready.split()[:3] == ["Ready", "True", "CredentialsValid"]

    cluster = {
        "kind": constants.CLUSTER_PARTNER_KIND,
        "metadata": {"name": "shared", "generation": 3},
        "spec": {
            "tokenSecretRef": {"name": "creds", "namespace": "ops"},
            "namespaceSelector": {"matchLabels": {"tier": "x"}},
        },
        "status": {"observedGeneration": 2, "lastError": "401 from GREEN-API"},
    }
    text = format_partner(cluster, [], NOW)
    assert "(cluster-scoped)" in text.splitlines()[0]
    assert "Secret ops/creds" in text
    assert 'namespaces matching {"matchLabels": {"tier": "x"}}' in text
    assert "the operator has not caught up" in text
    assert "Last error: 401 from GREEN-API" in text
    assert "Instances:  - live" in text


@pytest.mark.parametrize(
    ("status", "progress"),
    [
        ({"total": 5, "updated": 5}, "5/5 instances updated (done)"),
        ({"total": 5, "updated": 2, "inFlight": ["a", "b"]}, "2/5 instances updated (rolling)"),
        ({"total": 5, "updated": 2, "failed": "c"}, "2/5 instances updated (paused)"),
    ],
)
def test_format_profile(status: dict[str, Any], progress: str) -> None:
    obj = {
        "kind": constants.PROFILE_KIND,
        "metadata": {"name": "fleet", "namespace": "team-a", "generation": 1},
        "spec": {"settingsProfile": "Recommended"},
        "status": {"observedGeneration": 1, "revision": "sha256:ab", "maxUnavailable": 2, **status},
    }
    text = format_profile(obj, [], NOW)
    assert text.splitlines()[0] == "WhatsAppSettingsProfile: fleet  (namespace team-a)"
    assert f"Rollout:    {progress}, at most 2 at a time" in text
    assert "Revision:   sha256:ab" in text
    assert "Based on:   Recommended (built-in)" in text
    if status.get("inFlight"):
        assert "In flight:  a, b" in text
    if status.get("failed"):
        assert "Failed:     c did not come back" in text


# ---------------------------------------------------------------- completion


class FakeNames:
    def __init__(self) -> None:
        self.asked: list[tuple[Kind | None, dict[str, str]]] = []

    def __call__(self, kind: Kind | None, options: dict[str, str]) -> list[str]:
        self.asked.append((kind, dict(options)))
        if kind is None:
            return ["team-a", "team-b"]
        return {INSTANCE: ["sales", "support"], PARTNER: ["gapi"], PROFILE: ["fleet"]}.get(kind, [])


def complete(*words: str) -> list[str]:
    return completion.complete(build_parser(), list(words), FakeNames())


def test_completes_subcommands_and_flags() -> None:
    assert "list" in complete("")
    assert complete("re") == ["relink", "reboot", "reconcile", "resume"]
    assert complete("-") == ["--context", "--help", "--kubeconfig", "--namespace", "-h", "-n"]
    assert "--all-namespaces" in complete("list", "--")
    assert "--edit-spec" in complete("pair", "sales", "--")
    assert complete("list", "-o", "") == ["wide", "json", "yaml"]
    assert complete("status", "x", "-o", "") == ["json", "yaml"]
    assert complete("completion", "") == ["bash", "zsh"]
    assert complete("--kubeconfig", "/k", "-n", "t") == ["team-a", "team-b"]


def test_completes_names_with_the_options_typed() -> None:
    names = FakeNames()
    found = completion.complete(
        build_parser(), ["--context", "c", "reboot", "-n", "team-a", "s"], names
    )
    assert found == ["sales", "support"]
    assert names.asked == [(INSTANCE, {"context": "c", "namespace": "team-a"})]
    # One name only: nothing after it.
    assert complete("reboot", "sales", "") == []
    assert complete("list", "") == []


def test_status_completes_kinds_then_their_names() -> None:
    assert complete("status", "") == ["sales", "support", "partner/", "clusterpartner/", "profile/"]
    assert complete("status", "p") == ["partner/", "profile/"]
    assert complete("status", "partner/") == ["partner/gapi"]
    assert complete("status", "wasp/f") == ["wasp/fleet"]
    assert complete("status", "pod/") == []


def test_scripts_call_the_plugin() -> None:
    for shell in completion.SHELLS:
        text = completion.script(shell)
        assert "kubectl-whatsapp __complete" in text
        assert "_kubectl_whatsapp" in text
    assert "complete -F _kubectl_whatsapp kubectl-whatsapp" in completion.script("bash")
    assert completion.script("zsh").startswith("#compdef kubectl-whatsapp")


def test_complete_answers_as_cobra_does(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["__complete", "res"]) == 0
    assert capsys.readouterr().out.splitlines() == ["resume", ":4"]
    assert main(["completion", "bash"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == completion.script("bash").rstrip("\n")


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_scripts_are_valid_shell(shell: str, tmp_path: Path) -> None:
    program = shutil.which(shell)
    if program is None:
        pytest.skip(f"{shell} is not installed: its script was not checked with `{shell} -n`")
    path = tmp_path / f"completion.{shell}"
    path.write_text(completion.script(shell))
    checked = subprocess.run(
        [program, "-n", str(path)], check=False, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
