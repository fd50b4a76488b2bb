"""Every model, imported so `Base.metadata` is complete (Alembic and tests use it)."""

from app.db.base_class import Base
from app.models.api_key import ApiKey
from app.models.audit import AuditEntry
from app.models.bot_config import BotConfig
from app.models.instance_secret import InstanceSecret
from app.models.password_reset import PasswordReset
from app.models.reddit_app import RedditApp
from app.models.reddit_budget import RedditBudget, RedditBudgetTicket
from app.models.reddit_content import RedditComment, RedditPost
from app.models.scheduler import APSchedulerJob, SchedulerCommand, SchedulerLeader
from app.models.scrape_session import ScrapeSession
from app.models.task_execution import TaskExecution
from app.models.throttle import ThrottleCounter
from app.models.token import RefreshToken
from app.models.user import User
from app.models.worker import Worker

__all__ = [
    "APSchedulerJob",
    "ApiKey",
    "AuditEntry",
    "Base",
    "BotConfig",
    "InstanceSecret",
    "PasswordReset",
    "RedditApp",
    "RedditBudget",
    "RedditBudgetTicket",
    "RedditComment",
    "RedditPost",
    "RefreshToken",
    "SchedulerCommand",
    "SchedulerLeader",
    "ScrapeSession",
    "TaskExecution",
    "ThrottleCounter",
    "User",
    "Worker",
]
