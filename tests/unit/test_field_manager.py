"""The operator's and the plugin's writes carry their own field manager (from User-Agent)."""

from __future__ import annotations

from pathlib import Path

from whatsapp_operator import __version__, constants
from whatsapp_operator.adapters.kube import load_api_client
from whatsapp_operator.kubectl.cluster import Kube


def _kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\n"
        "users:\n- name: u\n  user: {}\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: n\n"
    )
    return str(path)


def test_the_operators_requests_name_the_operator(tmp_path: Path) -> None:
    # The API server takes a write's field manager from the User-Agent up to its "/".
    api = load_api_client(_kubeconfig(tmp_path))
    assert api.user_agent == f"{constants.FIELD_MANAGER}/{__version__}"
    assert api.default_headers["User-Agent"].split("/")[0] == "whatsapp-operator"


def test_the_plugins_requests_name_the_plugin(tmp_path: Path) -> None:
    kube = Kube.connect(_kubeconfig(tmp_path), None, None)
    assert kube.api.user_agent.split("/")[0] == "kubectl-whatsapp"
    assert kube.namespace == "n"
