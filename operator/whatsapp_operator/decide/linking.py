"""Pure decisions about linking a phone: when codes are handed out, and what status says.

Codes are handed out only while the instance is `notAuthorized` and inside a
bounded window (default 10 minutes), because a QR code or pairing code grants
access to the account. The window restarts on request (the relink annotation)
or when a linked phone is lost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from whatsapp_operator.api.resource import (
    AuthorizationMethod,
    AuthorizationSpec,
    LinkingPhase,
    LinkingStatus,
)
from whatsapp_operator.constants import ANNOTATION_PAIR_PHONE, ANNOTATION_RELINK
from whatsapp_operator.decide.plan import SettingsPlan
from whatsapp_operator.names import derived_name
from whatsapp_operator.timestamps import format_time, parse_time
from whatsapp_operator.wire.models import InstanceState

SECRET_SUFFIX = "-linking"  # noqa: S105 - a name suffix, not a credential
QR_KEY = "qr.png"
CODE_KEY = "code"
# The same rule as spec.authorization.phoneNumber.
PHONE_PATTERN = re.compile(r"^[1-9][0-9]{6,14}$")


def secret_name(resource_name: str) -> str:
    """The name of the Secret with a resource's linking codes, within the 253-character limit."""
    return derived_name(resource_name, SECRET_SUFFIX)


@dataclass(frozen=True)
class LinkingDecision:
    """The linking status to report, and what to do about the session and the codes."""

    status: LinkingStatus
    # True while a session should be feeding codes into the Secret.
    active: bool
    # True when the Secret with codes must not exist (linked, expired, not needed).
    remove_codes: bool


def requested_authorization(
    spec: AuthorizationSpec, annotations: Mapping[str, str]
) -> AuthorizationSpec:
    """How to link: spec.authorization, unless the pair-phone-number annotation asks for a
    pairing code for a phone (a value that is not a phone number is ignored)."""
    phone = annotations.get(ANNOTATION_PAIR_PHONE, "").strip()
    if not PHONE_PATTERN.match(phone):
        return spec
    return spec.model_copy(
        update={"method": AuthorizationMethod.PHONE_NUMBER, "phone_number": phone}
    )


def _hint(method: AuthorizationMethod, name: str) -> str:
    if method is AuthorizationMethod.PHONE_NUMBER:
        return (
            f"enter the pairing code from Secret {name} (key {CODE_KEY}) in WhatsApp > "
            "Linked devices > Link with phone number instead"
        )
    return f"scan the QR code in Secret {name} (key {QR_KEY}) with WhatsApp > Linked devices"


@dataclass(frozen=True)
class LinkingFacts:
    """What the linking decision reads besides the instance's state and the settings plan,
    gathered once at the start of a reconcile: the status written before a settings write
    and the decision acted on after it come from the same facts."""

    resource: str
    # The codes' Secret (`secret_name` of the resource).
    secret: str
    # How to link: spec.authorization as `requested_authorization` reads it.
    spec: AuthorizationSpec
    previous: LinkingStatus | None
    relink_requested: bool
    # When the running session last handed out a code (None without a session).
    refreshed_at: datetime | None
    now: datetime
    # Whether the status as read says a phone is linked.
    was_authorized: bool

    def decide(
        self, state: InstanceState | None, plan: SettingsPlan | None, *, phone_known: bool
    ) -> LinkingDecision:
        """The decision for the state seen and the settings plan acted on; `phone_known` says
        whether the account read this cycle has a phone."""
        applying = (
            plan is not None and plan.last_applied is not None and not plan.last_applied.confirmed
        )
        # The instance restarts to apply our write while no phone is linked.
        restart = applying and not (phone_known or self.was_authorized)
        return _decision(self, state, settings_restart=restart)


def decide_linking(
    *,
    resource: str,
    state: InstanceState | None,
    spec: AuthorizationSpec,
    previous: LinkingStatus | None,
    relink_requested: bool,
    refreshed_at: datetime | None,
    now: datetime,
    settings_restart: bool = False,
) -> LinkingDecision:
    """This cycle's linking phase and window: codes only while notAuthorized (or restarting
    to apply settings on an unlinked instance: `settings_restart`), inside the window."""
    facts = LinkingFacts(
        resource=resource,
        secret=secret_name(resource),
        spec=spec,
        previous=previous,
        relink_requested=relink_requested,
        refreshed_at=refreshed_at,
        now=now,
        was_authorized=False,
    )
    return _decision(facts, state, settings_restart=settings_restart)


def _decision(
    facts: LinkingFacts, state: InstanceState | None, *, settings_restart: bool
) -> LinkingDecision:
    resource, name, spec, previous = facts.resource, facts.secret, facts.spec, facts.previous
    if state is InstanceState.STARTING and settings_restart:
        # GREEN-API: "Setting the settings may take up to 5 minutes. During this time, you
        # can request a QR code." The window opens (or stays open) across that reboot.
        state = InstanceState.NOT_AUTHORIZED
    method = spec.method
    if state is InstanceState.AUTHORIZED:
        was_linking = previous is not None and previous.phase not in (
            LinkingPhase.NOT_NEEDED,
            LinkingPhase.LINKED,
        )
        already_linked = previous is not None and previous.phase is LinkingPhase.LINKED
        phase = LinkingPhase.LINKED if (was_linking or already_linked) else LinkingPhase.NOT_NEEDED
        return LinkingDecision(
            LinkingStatus(phase=phase, method=method, message="A phone is linked"),
            active=False,
            remove_codes=True,
        )
    if state is not InstanceState.NOT_AUTHORIZED:
        # Starting, creating, blocked...: no code can be had; keep the window as it was.
        if previous is None:
            return LinkingDecision(
                LinkingStatus(
                    phase=LinkingPhase.NOT_NEEDED,
                    method=method,
                    message="Waiting for the instance to be ready for linking",
                ),
                active=False,
                remove_codes=True,
            )
        return LinkingDecision(previous, active=False, remove_codes=False)

    window = timedelta(minutes=spec.window_minutes)
    fresh_start = (
        previous is None
        or previous.phase in (LinkingPhase.NOT_NEEDED, LinkingPhase.LINKED)
        or not previous.window_started_at
        or facts.relink_requested
    )
    now = facts.now
    if fresh_start:
        started, ends = now, now + window
    else:
        assert previous is not None
        started = parse_time(previous.window_started_at)
        ends = parse_time(previous.window_ends_at) if previous.window_ends_at else started + window
    if now >= ends:
        return LinkingDecision(
            LinkingStatus(
                phase=LinkingPhase.EXPIRED,
                method=method,
                window_started_at=format_time(started),
                window_ends_at=format_time(ends),
                message=(
                    "The linking window ended; restart it with `kubectl annotate "
                    f"whatsappinstance {resource} --overwrite "
                    f"{ANNOTATION_RELINK}=$(date -u +%Y-%m-%dT%H:%M:%SZ)` "
                    "or `kubectl whatsapp relink`"
                ),
            ),
            active=False,
            remove_codes=True,
        )
    refreshed = ""
    refreshed_at = facts.refreshed_at
    if refreshed_at is not None and refreshed_at >= started:
        refreshed = format_time(refreshed_at)
    elif not fresh_start and previous is not None:
        refreshed = previous.refreshed_at
    phase = LinkingPhase.CODE_READY if refreshed else LinkingPhase.WAITING
    return LinkingDecision(
        LinkingStatus(
            phase=phase,
            method=method,
            secret_name=name if refreshed else "",
            window_started_at=format_time(started),
            window_ends_at=format_time(ends),
            refreshed_at=refreshed,
            message=_hint(method, name) if refreshed else "Fetching a code",
        ),
        active=True,
        remove_codes=False,
    )


def codes_may_exist(previous: LinkingStatus | None) -> bool:
    """Whether, by the status, a Secret with codes may exist (a window was open or a code shown).

    A session writes its Secret before the status says so; a window that was open when a
    process stopped counts, so its codes are removed once the window closes.
    """
    if previous is None:
        return False
    return bool(previous.secret_name) or previous.phase in (
        LinkingPhase.WAITING,
        LinkingPhase.CODE_READY,
    )
