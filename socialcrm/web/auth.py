"""Dashboard users: scrypt password hashes, roles, log-in checks, session epochs, signing keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, Literal, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_sync.customers import audit
from engagement.queue import Actor
from socialcrm import models
from socialcrm.mention import utcnow
from socialcrm.settings import Settings
from socialcrm.web.login_limits import (
    Attempt,
    Blocked,
    LoginLimits,
    blocked_until,
    clear_name,
    record_failure,
)

log = logging.getLogger(__name__)

Role = Literal["admin", "agent", "analyst"]
ROLES: Final[tuple[Role, ...]] = ("admin", "agent", "analyst")
MIN_PASSWORD: Final = 10
MAX_PASSWORD: Final = 1024  # scrypt's cost grows with the input: a megabyte "password" is a DoS
MIN_SECRET: Final = 16
SECRET_FILE: Final = "web_secret"  # noqa: S105 - a file name, not a secret
# scrypt at 16 MiB and about 50 ms: slow for a guesser, quick enough for a person logging in
_N, _R, _P, _DKLEN = 2**14, 8, 1, 32
_SCHEME: Final = "scrypt"
_NAME: Final = re.compile(r"[A-Za-z0-9._@-]{1,64}")


class UserError(ValueError):
    """A user that cannot be added, found or changed as asked; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is logged in to the dashboard, and what their role lets them do."""

    id: int
    name: str
    role: Role
    epoch: int  # the user's session epoch: a session cookie must carry it

    @property
    def is_admin(self) -> bool:
        """Admins may do everything, users and data-protection requests included."""
        return self.role == "admin"

    @property
    def works_queue(self) -> bool:
        """Admins and agents work the queue and see customers; analysts do not."""
        return self.role in ("admin", "agent")

    def actor(self) -> Actor:
        """The queue's actor for this user: `web:<name>`, who may send unless an analyst."""
        return Actor(name=f"web:{self.name}", display=self.name, may_send=self.works_queue)


def hash_password(password: str) -> str:
    """The stored form of `password`: scrypt with a random salt, and its parameters."""
    salt = os.urandom(16)
    digest = _scrypt(password, salt, _N, _R, _P)
    parts = (_SCHEME, str(_N), str(_R), str(_P), _b64(salt), _b64(digest))
    return "$".join(parts)


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches the stored hash (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        expected = base64.urlsafe_b64decode(digest)
        actual = _scrypt(password, base64.urlsafe_b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    raw = password.encode("utf-8")[:MAX_PASSWORD]
    return hashlib.scrypt(raw, salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=64 * 2**20)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


# a hash to check a password against when the user is unknown: both cases take the same time
_DUMMY_HASH: Final = hash_password(secrets.token_urlsafe(16))


def check_new_user(name: str, role: str, password: str) -> Role:
    """The role, once name, role and password are acceptable; else a UserError saying why."""
    if not _NAME.fullmatch(name):
        raise UserError("a user name is 1-64 letters, digits, dots, dashes, underscores or @")
    if role not in ROLES:
        raise UserError(f"role {role!r} is unknown: use admin, agent or analyst")
    check_password(password)
    return role


def check_password(password: str) -> None:
    """Nothing when the password is long enough and not too long; else a UserError saying so."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password is too short: use {MIN_PASSWORD}+ characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD:
        raise UserError(f"the password is too long: use at most {MAX_PASSWORD} bytes")


def add_user(session: Session, name: str, role: str, password: str, actor: str) -> models.WebUser:
    """Add a dashboard user (audited); UserError when the name is taken or a value is bad."""
    checked = check_new_user(name, role, password)
    if session.scalar(select(models.WebUser.id).where(models.WebUser.name == name)) is not None:
        raise UserError(f"a user named {name!r} exists already: pick another name")
    user = models.WebUser(name=name, role=checked, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    audit(session, actor, "web_user.add", ("web_user", user.id), None, {"role": checked})
    return user


def list_users(session: Session) -> list[models.WebUser]:
    """Every dashboard user, by name."""
    return list(session.scalars(select(models.WebUser).order_by(models.WebUser.name)))


def _locked_user(session: Session, name: str) -> models.WebUser:
    """The user named `name`, locked for update; UserError when there is none."""
    user = session.scalars(
        select(models.WebUser).where(models.WebUser.name == name).with_for_update()
    ).one_or_none()
    if user is None:
        raise UserError(f"no user is named {name!r}: see `socialcrm users list`")
    return user


def disable_user(session: Session, name: str, actor: str) -> models.WebUser:
    """Disable a user: every session of theirs ends at once (audited)."""
    user = _locked_user(session, name)
    if user.disabled_at is None:
        user.disabled_at = utcnow()
        user.session_epoch += 1
        audit(session, actor, "web_user.disable", ("web_user", user.id), None, {"disabled": True})
    return user


def set_password(session: Session, name: str, password: str, actor: str) -> models.WebUser:
    """Give a user a new password: every session of theirs ends (audited, without the password)."""
    check_password(password)
    user = _locked_user(session, name)
    user.password_hash = hash_password(password)
    user.session_epoch += 1
    audit(session, actor, "web_user.password", ("web_user", user.id))
    return user


def end_sessions(session: Session, user_id: int, epoch: int) -> bool:
    """Log out: end every session of the user, if `epoch` is still theirs; whether it was."""
    result = session.execute(
        update(models.WebUser)
        .where(models.WebUser.id == user_id, models.WebUser.session_epoch == epoch)
        .values(session_epoch=models.WebUser.session_epoch + 1)
    )
    return bool(getattr(result, "rowcount", 0))


def log_in(
    session: Session,
    name: str,
    password: str,
    attempt: Attempt,
    limits: LoginLimits,
    now: datetime,
) -> Viewer | Blocked | None:
    """`authenticate` within the rate limits; past them Blocked, with the password unchecked."""
    until = blocked_until(session, attempt, limits, now)
    if until is not None:
        log.info("a dashboard log-in was refused unchecked: too many failures")
        return Blocked(until)
    found = authenticate(session, name, password)
    if found is None:
        record_failure(session, attempt, limits, now)
    else:
        clear_name(session, attempt)
    return found


def authenticate(session: Session, name: str, password: str) -> Viewer | None:
    """The user when name and password match an enabled account; every failure is audited."""
    user = session.scalars(select(models.WebUser).where(models.WebUser.name == name)).one_or_none()
    # the hash is checked even for an unknown user: timing tells nobody which names exist
    matches = verify_password(password, user.password_hash if user else _DUMMY_HASH)
    if user is None or not matches or user.disabled_at is not None:
        reason = "unknown user" if user is None else "wrong password" if not matches else "disabled"
        actor = f"web:{user.name}" if user is not None else "web:-"
        subject = ("web_user", user.id if user is not None else 0)
        audit(session, actor, "web.login_failed", subject, None, {"reason": reason})
        log.warning("a dashboard log-in failed: %s", reason)
        return None
    audit(session, f"web:{user.name}", "web.login", ("web_user", user.id))
    return Viewer(user.id, user.name, cast(Role, user.role), user.session_epoch)


def active_viewer(session: Session, user_id: int, epoch: int) -> Viewer | None:
    """The enabled user with this id and epoch (else the session has ended)."""
    user = session.get(models.WebUser, user_id)
    if user is None or user.disabled_at is not None or user.role not in ROLES:
        return None
    if user.session_epoch != epoch:
        return None  # logged out, disabled or given a new password since this log-in
    return Viewer(user.id, user.name, user.role, user.session_epoch)


def session_secret(settings: Settings) -> str:
    """The session signing key: SOCIALCRM_WEB_SECRET, else one generated once in the data dir."""
    if settings.secrets.web_secret is not None:
        secret = settings.secrets.web_secret.get_secret_value()
        if len(secret) < MIN_SECRET:
            raise UserError(f"SOCIALCRM_WEB_SECRET is too short: use {MIN_SECRET}+ characters")
        return secret
    return _secret_file(settings.data_dir / SECRET_FILE)


def _secret_file(path: Path) -> str:
    """Read the key file, or create it (mode 0600) with a random key if there is none yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="utf-8").strip()
        if len(secret) < MIN_SECRET:
            raise UserError(f"{path} holds no usable key: delete it to make a new one") from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    log.info("made a new session key in %s", path)
    return secret


def login_limit_key(settings: Settings) -> bytes:
    """The key of the hashed names and addresses of failed log-ins, made from the session key."""
    return hmac.new(session_secret(settings).encode(), b"login-limits", "sha256").digest()


def pseudonym_key(settings: Settings) -> bytes:
    """The key of analysts' pseudonyms: the configured one, else one made from the session key."""
    if settings.secrets.pseudonym_key is not None:
        return settings.secrets.pseudonym_key.get_secret_value().encode("utf-8")
    # derived, never the session key itself: a pseudonym must not help forge a cookie
    return hmac.new(session_secret(settings).encode(), b"analyst-pseudonyms", "sha256").digest()
