"""The web shell: FastAPI app factory, middleware, problem details, i18n, pages and the core API."""
