"""Signals from sign-in, for the apps above accounts (the audit log listens)."""

from django.dispatch import Signal

# Password sign-in was locked: username (as typed), address, by ("user" or "address"), until.
sign_in_locked = Signal()
