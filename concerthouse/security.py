"""Headers that Django's SecurityMiddleware does not set: Content-Security-Policy and
Permissions-Policy, on every response, from the two settings of the same names.

It also sets X-Frame-Options where Django's XFrameOptionsMiddleware did not: that one sits inside
LocaleMiddleware, so the redirect of a bare address to its language would go without it."""

from django.conf import settings


def _header(directives: dict[str, str], *, pair: str, separator: str) -> str:
    return separator.join(pair.format(name, value) for name, value in directives.items())


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        # Built once: the settings do not change while the process runs.
        self.headers = {
            "Content-Security-Policy": _header(
                settings.CONTENT_SECURITY_POLICY, pair="{} {}", separator="; "
            ),
            "Permissions-Policy": _header(
                settings.PERMISSIONS_POLICY, pair="{}={}", separator=", "
            ),
            "Cross-Origin-Resource-Policy": "same-origin",
            "X-Frame-Options": settings.X_FRAME_OPTIONS,
        }

    def __call__(self, request):
        response = self.get_response(request)
        for name, value in self.headers.items():
            response.headers.setdefault(name, value)
        return response
