"""Signals the environments app sends, for the apps that tell people (notifications, chat).

A receiver must be able to import this module: environments itself (receivers.py) or an app
on a floor above it; an app below (the notification outbox) is called from a receiver here.
"""

from django.dispatch import Signal

# Sent with `deployment` (a Deployment, break_glass=True) and `reason`, once the break-glass
# rollback request is committed: someone rolled an environment back without an approval, and
# the team's leads and the SREs should hear of it at once. Sent with send_robust: a failing
# receiver is logged, never the rollback's.
rollback_break_glass = Signal()
