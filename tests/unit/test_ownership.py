"""Pure tenancy decisions: label selectors, the creation marker, allowAdoption, id conflicts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support.long_names import long_name
from whatsapp_operator.api.partner import AdoptionPolicy, LabelSelector, LabelSelectorRequirement
from whatsapp_operator.decide.ownership import (
    adoption_allowed,
    conflicting_id,
    made_for,
    namespace_allowed,
    ownership,
    rebind_candidates,
)
from whatsapp_operator.decide.selectors import describe, requirement_holds, selects
from whatsapp_operator.run.identity import instance_name, next_marker
from whatsapp_operator.wire.models import PartnerInstance

LABEL = st.from_regex(r"[a-z]([-a-z0-9]{0,4}[a-z0-9])?", fullmatch=True)
LABELS = st.dictionaries(LABEL, LABEL, max_size=5)


def req(key: str, operator: str, *values: str) -> LabelSelectorRequirement:
    return LabelSelectorRequirement(key=key, operator=operator, values=list(values) or None)


SELECTOR_CASES = [
    ("empty selects all", LabelSelector(), {}, True),
    ("matchLabels equal", LabelSelector(match_labels={"team": "a"}), {"team": "a", "x": "y"}, True),
    ("matchLabels differ", LabelSelector(match_labels={"team": "a"}), {"team": "b"}, False),
    ("matchLabels absent", LabelSelector(match_labels={"team": "a"}), {}, False),
    (
        "In",
        LabelSelector(match_expressions=[req("env", "In", "prod", "stage")]),
        {"env": "stage"},
        True,
    ),
    ("In absent", LabelSelector(match_expressions=[req("env", "In", "prod")]), {}, False),
    (
        "NotIn other",
        LabelSelector(match_expressions=[req("env", "NotIn", "prod")]),
        {"env": "dev"},
        True,
    ),
    ("NotIn absent", LabelSelector(match_expressions=[req("env", "NotIn", "prod")]), {}, True),
    (
        "NotIn listed",
        LabelSelector(match_expressions=[req("env", "NotIn", "prod")]),
        {"env": "prod"},
        False,
    ),
    ("Exists", LabelSelector(match_expressions=[req("wa", "Exists")]), {"wa": ""}, True),
    ("Exists absent", LabelSelector(match_expressions=[req("wa", "Exists")]), {}, False),
    ("DoesNotExist", LabelSelector(match_expressions=[req("wa", "DoesNotExist")]), {}, True),
    (
        "all must hold",
        LabelSelector(match_labels={"team": "a"}, match_expressions=[req("wa", "Exists")]),
        {"team": "a"},
        False,
    ),
]


@pytest.mark.parametrize(
    ("case", "selector", "labels", "expected"), SELECTOR_CASES, ids=[c[0] for c in SELECTOR_CASES]
)
def test_selector_semantics(
    case: str, selector: LabelSelector, labels: dict[str, str], expected: bool
) -> None:
    assert selects(selector, labels) is expected


@given(LABELS)
def test_empty_selector_selects_every_label_set(labels: dict[str, str]) -> None:
    assert selects(LabelSelector(), labels)
    assert selects(LabelSelector(match_labels={}, match_expressions=[]), labels)


@given(LABELS, LABELS)
def test_match_labels_selects_exactly_the_supersets(
    wanted: dict[str, str], labels: dict[str, str]
) -> None:
    expected = all(labels.get(k) == v for k, v in wanted.items())
    assert selects(LabelSelector(match_labels=wanted), labels) is expected
    assert selects(LabelSelector(match_labels=wanted), {**labels, **wanted})


@given(LABEL, st.lists(LABEL, min_size=1, max_size=4), LABELS)
def test_in_and_notin_are_complements_when_the_label_is_present(
    key: str, values: list[str], labels: dict[str, str]
) -> None:
    present = {**labels, key: labels.get(key, values[0])}
    holds_in = requirement_holds(req(key, "In", *values), present)
    holds_not_in = requirement_holds(req(key, "NotIn", *values), present)
    assert holds_in != holds_not_in
    assert requirement_holds(req(key, "Exists"), present)
    assert not requirement_holds(req(key, "DoesNotExist"), present)


def test_describe_reads_like_kubectl() -> None:
    selector = LabelSelector(
        match_labels={"team": "a"},
        match_expressions=[req("env", "In", "prod", "stage"), req("wa", "Exists")],
    )
    assert describe(selector) == "team=a,env in (prod,stage),wa"
    assert describe(LabelSelector()) == "everything"


# ------------------------------------------------------------------ the creation marker


def test_marker_matches_its_resource_of_any_uid_and_any_recreate() -> None:
    marker = instance_name("team-a", "shop", "0123456789abcdef")
    assert made_for(marker, "team-a", "shop")
    assert made_for(next_marker(marker, marker), "team-a", "shop")
    assert made_for(instance_name("team-a", "shop", "ffffffff-restored"), "team-a", "shop")


@pytest.mark.parametrize(
    "name",
    [
        None,
        "",
        "shop",
        "k8s:team-a/shop2#01234567",
        "k8s:team-a/sho#01234567",
        "k8s:team-b/shop#01234567",
        "k8s:team-a-x/shop#01234567",
        "prefix k8s:team-a/shop#01234567",
    ],
)
def test_marker_of_another_resource_does_not_match(name: str | None) -> None:
    assert not made_for(name, "team-a", "shop")


@given(
    st.from_regex(r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,8}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,8}[a-z0-9])?", fullmatch=True),
)
def test_a_marker_names_exactly_one_resource(ns: str, name: str, ns2: str, name2: str) -> None:
    marker = instance_name(ns, name, "abcdef0123")
    assert made_for(marker, ns2, name2) is ((ns, name) == (ns2, name2))


# ------------------------------------------------------------------ re-binding a re-creation


def listed(id_instance: int, name: str, *, deleted: bool = False) -> PartnerInstance:
    return PartnerInstance.model_validate(
        {"idInstance": id_instance, "name": name, "apiTokenInstance": "x", "deleted": deleted}
    )


def test_rebind_candidates_are_the_live_instances_of_any_uid_of_the_resource() -> None:
    old = instance_name("team-p", "shop", "0ld0ld00-1111")
    instances = [
        listed(30, next_marker(old, old)),  # a confirmed re-create of an earlier incarnation
        listed(10, old),
        listed(11, instance_name("team-p", "shop", "5f0c1d2e-2222"), deleted=True),
        listed(12, instance_name("team-p", "shop-2", "0ld0ld00-1111")),
        listed(13, instance_name("team-p", "sho", "0ld0ld00-1111")),
        listed(14, instance_name("team-q", "shop", "0ld0ld00-1111")),
        listed(15, "shop"),
        listed(16, ""),
    ]
    found = rebind_candidates(instances, "team-p", "shop")
    # Deleted ones are history (GREEN-API lists them for 3 months), not something to bind to.
    assert [i.id_instance for i in found] == [10, 30]
    assert rebind_candidates(instances, "team-p", "nothing") == []


def test_rebind_candidates_of_the_longest_names_are_whole_markers() -> None:
    """Markers are never truncated: the longest namespace and name still name one resource."""
    namespace = "n" * 63
    name = long_name(253)
    shorter = name[:-1]  # a valid name that is a prefix of the other
    old = instance_name(namespace, name, "0ld0ld00-1111")
    assert old.endswith(f"/{name}#0ld0ld00")
    instances = [
        listed(20, old),
        listed(21, instance_name(namespace, shorter, "0ld0ld00-1111")),
        listed(22, instance_name(namespace[:-1], name, "0ld0ld00-1111")),
    ]
    assert [i.id_instance for i in rebind_candidates(instances, namespace, name)] == [20]
    assert [i.id_instance for i in rebind_candidates(instances, namespace, shorter)] == [21]


@given(
    st.from_regex(r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,8}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,8}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[0-9a-f]{8}-[0-9a-f]{4}", fullmatch=True),
    st.booleans(),
)
def test_a_resource_rebinds_only_to_its_own_earlier_instances(
    ns: str, name: str, ns2: str, name2: str, old_uid: str, deleted: bool
) -> None:
    instances = [listed(40, instance_name(ns, name, old_uid), deleted=deleted)]
    found = rebind_candidates(instances, ns2, name2)
    assert bool(found) is ((ns, name) == (ns2, name2) and not deleted)


# ------------------------------------------------------------------ allowAdoption

IDS = AdoptionPolicy(instance_ids=[7105000001, 7105000002])
TRUSTED = LabelSelector(match_labels={"adopt": "yes"})


@pytest.mark.parametrize(
    ("case", "policy", "instance_id", "labels", "expected"),
    [
        ("no policy", None, 7105000001, {}, False),
        ("listed id", IDS, 7105000002, {}, True),
        ("unlisted id", IDS, 7105000003, {}, False),
        (
            "selected namespace, any id",
            AdoptionPolicy(namespace_selector=TRUSTED),
            9,
            {"adopt": "yes"},
            True,
        ),
        ("unselected namespace", AdoptionPolicy(namespace_selector=TRUSTED), 9, {}, False),
        (
            "both narrow: listed but unselected",
            AdoptionPolicy(instance_ids=[7105000001], namespace_selector=TRUSTED),
            7105000001,
            {},
            False,
        ),
        (
            "both narrow: listed and selected",
            AdoptionPolicy(instance_ids=[7105000001], namespace_selector=TRUSTED),
            7105000001,
            {"adopt": "yes"},
            True,
        ),
        ("a policy with neither allows nothing", AdoptionPolicy(), 7105000001, {}, False),
    ],
)
def test_adoption_allowed(
    case: str,
    policy: AdoptionPolicy | None,
    instance_id: int,
    labels: dict[str, str],
    expected: bool,
) -> None:
    assert adoption_allowed(policy, instance_id, labels) is expected


def test_namespace_allowed_without_selector_is_a_namespaced_partner() -> None:
    assert namespace_allowed(None, {})
    assert not namespace_allowed(TRUSTED, {"adopt": "no"})


def test_ownership_verdicts_say_why() -> None:
    common = {"namespace": "team-a", "name": "shop", "partner": "WhatsAppPartner team-a/gapi"}
    mine = ownership(
        instance_id=1,
        listed_name=instance_name("team-a", "shop", "uid12345"),
        policy=None,
        namespace_labels={},
        **common,
    )
    assert mine.owned
    foreign = ownership(
        instance_id=7,
        listed_name="k8s:team-b/bill#aaaaaaaa",
        policy=None,
        namespace_labels={},
        **common,
    )
    assert not foreign.owned
    assert foreign.listed
    assert "7" in foreign.why
    assert "allowAdoption" in foreign.why
    unlisted = ownership(
        instance_id=8, listed_name=None, policy=None, namespace_labels={}, **common
    )
    assert (unlisted.owned, unlisted.listed) == (False, False)
    allowed = ownership(
        instance_id=7,
        listed_name="k8s:team-b/bill#aaaaaaaa",
        policy=AdoptionPolicy(instance_ids=[7]),
        namespace_labels={},
        **common,
    )
    assert allowed.owned


@pytest.mark.parametrize(
    ("spec_id", "recorded", "expected"),
    [(None, None, False), (5, None, False), (None, 5, False), (5, 5, False), (6, 5, True)],
)
def test_conflicting_id(spec_id: int | None, recorded: int | None, expected: bool) -> None:
    assert conflicting_id(spec_id, recorded) is expected
