"""The underwriter's workbench: server-rendered pages on the quoting service.

``install(app)`` adds the pages, the signed session they sign in with, their stylesheet, and the
API's ``/docs`` served from the installed Swagger UI package (so it works without internet). The
pages are thin: each parses a form, calls the package and the store's functions as the API's
routes do, and fills a Jinja2 template; the rules (who may see or do what) are the API's.

``_session`` signs in and out and checks CSRF tokens; ``_forms`` turns the quote request's
pydantic models into a form and a form back into a request; ``_charts`` draws the report's
figures as SVG; ``_render`` holds the templates; ``_pages`` and ``_quotes`` the routes.
"""

from api.web._install import install

__all__ = ["install"]
