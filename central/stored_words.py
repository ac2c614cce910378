"""Words central stores in English and the ops pages show: alert kinds, device and uplink
states, and the alert details that are fixed words. They are marked here for the catalog and
translated when a page is made (``shown``); the stored values stay English, as the filters,
the metrics and the audit log use them. A detail with figures in it ("SoC at 81.5 °C") is shown
as stored."""

from __future__ import annotations

from central import alert_rules
from central.i18n import N_, _

ALERT_KINDS = {
    "offline": N_("offline"),
    "backlog": N_("backlog"),
    "chain_fault": N_("chain fault"),
    "refused": N_("refused"),
    "printer": N_("printer"),
    "payments": N_("payments"),
    "drawer_open": N_("drawer open"),
    "disk_low": N_("disk low"),
    "temperature": N_("temperature"),
    "throttled": N_("throttled"),
    "clock_offset": N_("clock offset"),
    "update": N_("update"),
}
DEVICE_STATES = {"online": N_("online"), "late": N_("late"), "offline": N_("offline")}
UPLINK_STATES = {
    "ok": N_("ok"),
    "retrying": N_("retrying"),
    "refused": N_("refused"),
    "halted": N_("halted"),
    "unknown": N_("unknown"),
}


def alert_kind(kind: str) -> str:
    return _(ALERT_KINDS[kind]) if kind in ALERT_KINDS else kind


def device_state(state: str) -> str:
    return _(DEVICE_STATES[state]) if state in DEVICE_STATES else state


def uplink_state(state: str) -> str:
    return _(UPLINK_STATES[state]) if state in UPLINK_STATES else state


def alert_detail(detail: str) -> str:
    return _(detail) if detail in alert_rules.FIXED_DETAILS else detail
