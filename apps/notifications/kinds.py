"""The kinds of notification, as people see them on their settings page.

A person can turn each kind off for each channel; what goes to a team's or the SREs'
Slack channel is the channel's, not a person's, and has no switch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    personal: bool = True  # sent to people (who may turn it off), not only to channels


KINDS = {
    k.key: k
    for k in [
        Kind("approval.requested", "Someone asks you to approve a deployment"),
        Kind("approval.decided", "Your approval request was approved or declined"),
        Kind("deployment.finished", "Your deployment succeeded, failed or timed out"),
        Kind("deployment.progress", "A deployment's steps, in its Slack thread", personal=False),
        Kind("production.change", "A promotion or rollback to production started", personal=False),
        Kind("flux.health", "A Flux object turned not ready, or recovered", personal=False),
        Kind("readiness.digest", "New high-severity readiness findings (daily)", personal=False),
        Kind("stuck.digest", "Readers stuck on lessons you own (daily)"),
    ]
}

# Ways of telling a person, in the order the settings page shows them.
PERSONAL_CHANNELS = ("slack", "email")
