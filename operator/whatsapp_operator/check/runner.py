"""The check, step by step: inputs, allow-list, DNS, handshake, then GREEN-API's read
methods, then the partner API. A step that fails skips those that depend on it, and a
host the allow-list refuses is never contacted, not even resolved.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from whatsapp_operator.adapters.greenapi.client import ClientOptions, GreenApi
from whatsapp_operator.adapters.greenapi.proxy import ProxyPolicy
from whatsapp_operator.check import greenapi
from whatsapp_operator.check.inputs import Inputs
from whatsapp_operator.check.managed import STEP as MANAGED
from whatsapp_operator.check.managed import managed_step
from whatsapp_operator.check.network import allow_list_step, dns_step, handshake_step, proxied
from whatsapp_operator.check.report import CheckReport, Status, Step, Target
from whatsapp_operator.endpoints import AllowList, Endpoint

GREENAPI_STEPS = ("token", "state", "settings", MANAGED, "wa-settings", "queues")


def inputs_step(inputs: Inputs) -> Step:
    """What was read to run the check, or what could not be."""
    if inputs.problems:
        return Step("inputs", Status.FAIL, "; ".join(inputs.problems))
    parts = [inputs.source]
    if inputs.token_source:
        parts.append(inputs.token_source)
    if inputs.desired is not None:
        parts.append(f"{len(inputs.desired.settings.values)} managed settings")
    else:
        parts.append("no desired settings given")
    if inputs.partner is not None:
        parts.append(f"partner token from {inputs.partner.source}")
    return Step("inputs", Status.OK, "; ".join(parts))


async def run_check(
    inputs: Inputs,
    allowed: AllowList,
    *,
    timeout: float = 10.0,
    proxies: ProxyPolicy | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CheckReport:
    """Run every step for `inputs`; nothing is written anywhere."""
    report = CheckReport(Target(inputs.source, inputs.api_url, inputs.id_instance))
    report.add(inputs_step(inputs))
    proxies = proxies if proxies is not None else ProxyPolicy()
    options = ClientOptions(connect_timeout=timeout)
    async with GreenApi(options, allowed=allowed) as api:
        await _instance_steps(report, inputs, allowed, api, timeout, proxies, clock)
        await _partner_steps(report, inputs, allowed, api)
    return report


async def _instance_steps(
    report: CheckReport,
    inputs: Inputs,
    allowed: AllowList,
    api: GreenApi,
    timeout: float,
    proxies: ProxyPolicy,
    clock: Callable[[], datetime],
) -> None:
    network = ("dns", "handshake")
    if not inputs.api_url:
        report.skip(("allow-list", *network, *GREENAPI_STEPS), "not checked: no apiUrl")
        return
    allow, endpoint = allow_list_step(allowed, inputs.api_url, "apiUrl", "allow-list")
    report.add(allow)
    if endpoint is None:
        report.skip((*network, *GREENAPI_STEPS), "not checked: the apiUrl is not allowed")
        return
    if not await _reachable(report, endpoint, inputs.api_url, timeout, proxies):
        report.skip(GREENAPI_STEPS, "not checked: the host cannot be reached")
        return
    if inputs.token is None or inputs.id_instance is None:
        report.skip(GREENAPI_STEPS, "not checked: no idInstance or token")
        return
    client = api.instance(
        api_url=inputs.api_url, id_instance=inputs.id_instance, token=inputs.token
    )
    steps, state = await greenapi.state_steps(client)
    for step in steps:
        report.add(step)
    if state is None:
        report.skip(GREENAPI_STEPS[2:], "not checked: getStateInstance failed")
        return
    settings, observed = await greenapi.settings_step(client)
    report.add(settings)
    if observed is None:
        report.add(Step(MANAGED, Status.SKIP, "not compared: getSettings failed"))
    elif inputs.desired is None:
        report.add(
            Step(
                MANAGED,
                Status.SKIP,
                "no desired settings given (--instance, --settings-file or --settings-profile)",
            )
        )
    else:
        report.add(managed_step(inputs.desired, observed, state, clock()))
    report.add(await greenapi.wa_settings_step(client))
    report.add(await greenapi.queues_step(client.get_webhooks_count, client.get_messages_count))


async def _reachable(
    report: CheckReport, endpoint: Endpoint, url: str, timeout: float, proxies: ProxyPolicy
) -> bool:
    if proxied(proxies, url):
        why = (
            "not checked from here: the operator's client reaches this host through the "
            "forward proxy named in the *_PROXY environment"
        )
        report.skip(("dns", "handshake"), why)
        return True
    dns = report.add(await dns_step(endpoint, timeout))
    if dns.status is Status.FAIL:
        report.skip(("handshake",), "not checked: the name does not resolve")
        return False
    handshake = report.add(await handshake_step(endpoint, timeout))
    return handshake.status is not Status.FAIL


async def _partner_steps(
    report: CheckReport, inputs: Inputs, allowed: AllowList, api: GreenApi
) -> None:
    partner = inputs.partner
    if partner is None:
        report.add(Step("partner", Status.SKIP, "no partner token given"))
        return
    allow, endpoint = allow_list_step(allowed, partner.api_url, "partner apiUrl", "partner-url")
    report.add(allow)
    if endpoint is None:
        report.add(Step("partner", Status.SKIP, "not checked: the partner apiUrl is not allowed"))
        return
    client = api.partner(api_url=partner.api_url, token=partner.token)
    report.add(await greenapi.partner_step(client, inputs.id_instance))
