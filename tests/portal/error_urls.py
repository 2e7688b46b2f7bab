"""The site's URLs plus one view that fails, to see what a crash shows and logs."""

from django.urls import path

from portal.urls import urlpatterns as site_urlpatterns

INTERNAL_DETAIL = "cannot read /srv/shirube/secret-config.yaml at line 42"


def boom(request):
    raise RuntimeError(INTERNAL_DETAIL)


urlpatterns = [*site_urlpatterns, path("boom/", boom)]
