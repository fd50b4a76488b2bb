"""Outgoing mail: SMTP when `SMTP_HOST` is set, otherwise the log (development)."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from app.core.config import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    body: str


class EmailSender(Protocol):
    async def send(self, email: Email) -> None: ...


class ConsoleEmailSender:
    """Logs each message and keeps the last ones in `outbox`, so a developer (or a test)
    can read the reset link without a mail server."""

    def __init__(self, keep: int = 100) -> None:
        self.outbox: deque[Email] = deque(maxlen=keep)

    async def send(self, email: Email) -> None:
        self.outbox.append(email)
        logger.info("email to %s: %s\n%s", email.to, email.subject, email.body)


class SmtpEmailSender:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _send_blocking(self, email: Email) -> None:
        s = self.settings
        message = EmailMessage()
        message["From"] = s.SMTP_FROM
        message["To"] = email.to
        message["Subject"] = email.subject
        message.set_content(email.body)
        assert s.SMTP_HOST is not None
        with smtplib.SMTP(s.SMTP_HOST, s.SMTP_PORT, timeout=30) as smtp:
            if s.SMTP_TLS:
                smtp.starttls()
            if s.SMTP_USER and s.SMTP_PASSWORD:
                smtp.login(s.SMTP_USER, s.SMTP_PASSWORD)
            smtp.send_message(message)

    async def send(self, email: Email) -> None:
        await asyncio.to_thread(self._send_blocking, email)


def email_sender_for(settings: Settings) -> EmailSender:
    if settings.SMTP_HOST:
        return SmtpEmailSender(settings)
    return ConsoleEmailSender()
