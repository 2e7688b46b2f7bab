"""The landing page: what this person needs today (thin: the selector does the reading)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.home.selectors import home_page


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home/home.html", {"page": home_page(user=request.user)})
