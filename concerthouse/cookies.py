"""Örebro's promise: only functional cookies, and first-time visitors are told so.

No JavaScript and no banner to click: a first visit shows the notice, and the response sets one
functional cookie that remembers it was shown. Nothing else is stored in the browser by the public
pages except Django's CSRF cookie on pages with a form.
"""

NOTICE_COOKIE = "cookie_notice_seen"
NOTICE_MAX_AGE = 365 * 24 * 60 * 60


def cookie_notice(request) -> dict:
    """Context processor: show the notice to a visitor who has not seen it yet."""
    return {"show_cookie_notice": NOTICE_COOKIE not in request.COOKIES}


class CookieNoticeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        shown = (
            request.method == "GET"
            and NOTICE_COOKIE not in request.COOKIES
            and response.status_code == 200
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith("/admin/")
        )
        if shown:
            response.set_cookie(
                NOTICE_COOKIE,
                "1",
                max_age=NOTICE_MAX_AGE,
                secure=request.is_secure(),
                httponly=True,
                samesite="Lax",
            )
        return response
