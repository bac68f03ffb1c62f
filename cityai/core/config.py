"""Settings, read from the environment (prefix ``CITYAI_``) with embedded defaults.

Every backend is chosen by one URL (the MLflow model): ``CITYAI_DATABASE_URL`` (SQLite under
``CITYAI_HOME`` by default, ``postgresql://`` in production), ``CITYAI_STORAGE_URL`` (local files by
default), ``CITYAI_QUEUE_URL`` (an SQLite-backed huey queue by default, ``redis://`` in production).
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYAI_", extra="ignore")

    home: Path = Field(default=Path("./var"), description="Data directory")
    database_url: str | None = None
    storage_url: str | None = None
    queue_url: str | None = None
    secret_key: str | None = None

    # Web
    base_url: str = "http://127.0.0.1:8000"
    cookie_secure: bool | None = None  # default: True when base_url is https
    default_locale: str = "vi"
    max_body_bytes: int = 10 * 1024 * 1024
    session_hours: int = 12
    access_token_hours: int = 12
    trusted_proxies: str = ""  # comma separated IPs whose X-Forwarded-For is believed

    # Password hashing cost (argon2id); None keeps the library's RFC 9106 defaults.
    argon2_time_cost: int | None = None
    argon2_memory_kib: int | None = None

    # Login throttling
    login_max_failures: int = 5
    login_window_seconds: int = 900
    login_max_failures_per_ip: int = 50

    # Queries (datastore and SQL endpoint) and uploads
    query_timeout_s: float = 2.0
    query_max_rows: int = 32_000
    max_upload_bytes: int = 2 * 1024 * 1024 * 1024
    export_max_rows: int = 1_000_000  # rows in one export (XLSX: at most a sheet's 1,048,575)
    export_timeout_s: float = 120.0

    # Jobs
    queue_name: str = "cityai"  # deployments sharing one Redis database need different names
    embedded_worker: bool = True
    worker_threads: int = 2
    job_retries: int = 2
    job_retry_delay: int = 5
    job_heartbeat_s: float = 30.0  # a running job's worker touches its row this often
    job_lost_after_s: float = 300.0  # a running job silent this long is marked failed (its worker died)

    # Harvesting: hosts a harvest source may point at (comma separated host names, *.suffix patterns or
    # CIDR ranges); empty allows any host. Redirects are checked against the same list.
    harvest_allowed_hosts: str = ""

    # Language services: the largest text one call analyses (UTF-8 bytes), texts in one batch call, and
    # whether the stateless analyses (segment, ner, summarize, embed) answer anonymous callers.
    language_max_text_bytes: int = 5 * 1024 * 1024
    language_max_batch: int = 1000
    language_public: bool = True
    language_max_summary_sentences: int = 2000  # sentences a summary or digest reads (cost grows as n^2)
    language_max_embed_texts: int = 256  # texts in one embedding call
    language_max_embed_chars: int = 200_000  # characters in one embedding call (~150 us each on one core)
    # Where search indexes keep their vectors: "" = NumPy files in each index's folder (embedded);
    # "database" = pgvector in the platform's PostgreSQL; or a postgresql:// URL of another server.
    vector_url: str = ""

    # Assistant: an OpenAI-compatible server on the city's own hardware (vLLM, Ollama: e.g.
    # http://127.0.0.1:11434/v1) may phrase answers from the retrieved passages; empty = extractive only.
    assistant_llm_url: str = ""
    assistant_llm_model: str = ""
    assistant_llm_api_key: str = ""
    assistant_llm_timeout_s: float = 20.0
    assistant_rate_per_minute: int = 20  # questions one client (token, user or IP) may ask per minute
    assistant_max_question_chars: int = 1000
    # Sites that may embed the chat widget's frame (CSP frame-ancestors), space separated; "*" = any.
    assistant_embed_origins: str = "*"
    # The demo's knowledge base: "auto" adds ../shared/data's procedures and laws when present; "builtin" only
    # the demo's own small set.
    assistant_demo_data: str = "auto"

    # Outgoing e-mail (alerts, reminders): smtp://user:password@host:port or smtps://...; empty = no e-mail.
    smtp_url: str = ""
    mail_from: str = "cityai@localhost"

    # Sensing: the MQTT broker the server's ingest consumer reads (empty = no consumer; `cityai sensing ingest`
    # runs one on its own), the topic prefix (topics are <prefix>/<agency code>/<device id>), the consumer's
    # MQTT client id (one persistent session per deployment; default derived from the database URL).
    sensing_mqtt_url: str = ""
    sensing_mqtt_topic_prefix: str = "cityai/v1"
    sensing_mqtt_client_id: str = ""
    sensing_max_clock_skew_s: int = 300  # observations further in the future than this are refused
    sensing_max_age_days: int = 3650  # observations older than this are refused (a device clock reset to 1970)
    sensing_raw_retention_days: int = 90  # raw values older than this are dropped (hourly rollups stay)
    sensing_rollup_retention_days: int = 1825
    sensing_batch_max: int = 5000  # observations in one HTTP batch
    sensing_query_max_points: int = 100_000  # values one temporal query returns
    sensing_demo_data: str = "auto"  # "auto": replay ../shared/data series into the demo's history when present

    # Logging
    log_level: str = "INFO"
    log_json: bool = True

    def model_post_init(self, __context: object) -> None:
        self.home = Path(self.home).expanduser().resolve()

    @cached_property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'cityai.db'}"

    @cached_property
    def effective_storage_url(self) -> str:
        return self.storage_url or f"file://{self.home / 'files'}"

    @cached_property
    def effective_queue_url(self) -> str:
        return self.queue_url or f"sqlite:///{self.home / 'queue.db'}"

    @cached_property
    def effective_secret_key(self) -> str:
        """The configured secret, or one generated once and kept in ``CITYAI_HOME/secret_key``."""
        if self.secret_key:
            return self.secret_key
        path = self.home / "secret_key"
        self.home.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.{secrets.token_hex(4)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
            try:
                os.link(tmp, path)  # atomic: the first writer wins, later ones read its key
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        return path.read_text().strip()

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.base_url.startswith("https://")

    def ensure_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)


_settings: Settings | None = None


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings


def set_settings(settings: Settings | None) -> None:
    """Replace the process-wide settings (used by the CLI and by tests)."""
    global _settings
    _settings = settings
