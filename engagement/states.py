"""The task state machine: which action is allowed in which state, and where it leads."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class State(StrEnum):
    """Where a task stands; `sent` and `dismissed` close it until the author writes again."""

    NEW = "new"
    NOTIFIED = "notified"
    CLAIMED = "claimed"
    DRAFTED = "drafted"
    APPROVED = "approved"
    SENT = "sent"
    DISMISSED = "dismissed"
    ESCALATED = "escalated"
    REOPENED = "reopened"


class Action(StrEnum):
    """What staff (or the system, for notify and reopen) can do to a task."""

    NOTIFY = "notify"
    CLAIM = "claim"
    RELEASE = "release"
    DRAFT = "draft"
    APPROVE = "approve"
    SEND = "send"
    DISMISS = "dismiss"
    ESCALATE = "escalate"
    REOPEN = "reopen"


class TransitionError(ValueError):
    """An action the task's state does not allow; the message tells staff what to do instead."""

    def __init__(self, state: State, action: Action, message: str) -> None:
        super().__init__(message)
        self.state = state
        self.action = action


CLOSED: frozenset[State] = frozenset({State.SENT, State.DISMISSED})
OPEN: frozenset[State] = frozenset(State) - CLOSED

# action -> (the states it may start from, the state it leads to)
TRANSITIONS: Mapping[Action, tuple[frozenset[State], State]] = MappingProxyType(
    {
        Action.NOTIFY: (
            frozenset({State.NEW, State.REOPENED, State.ESCALATED}),
            State.NOTIFIED,
        ),
        Action.CLAIM: (
            frozenset({State.NEW, State.NOTIFIED, State.ESCALATED, State.REOPENED}),
            State.CLAIMED,
        ),
        Action.RELEASE: (
            frozenset({State.CLAIMED, State.DRAFTED, State.APPROVED}),
            State.NOTIFIED,
        ),
        # editing an approved draft voids the approval: it is a new text nobody approved
        Action.DRAFT: (
            frozenset({State.CLAIMED, State.DRAFTED, State.APPROVED}),
            State.DRAFTED,
        ),
        Action.APPROVE: (frozenset({State.DRAFTED}), State.APPROVED),
        Action.SEND: (frozenset({State.APPROVED}), State.SENT),
        Action.DISMISS: (OPEN, State.DISMISSED),
        Action.ESCALATE: (OPEN - {State.ESCALATED}, State.ESCALATED),
        Action.REOPEN: (CLOSED, State.REOPENED),
    }
)

# what to do instead, by action; _SPECIFIC_HINTS refines it for particular states
_HINTS: Mapping[Action, str] = MappingProxyType(
    {
        Action.NOTIFY: "someone is already working on it",
        Action.CLAIM: "it is already claimed; take it over instead",
        Action.RELEASE: "nobody has claimed it",
        Action.DRAFT: "claim it before writing a draft",
        Action.APPROVE: "claim it and write a draft before approving",
        Action.SEND: "claim it and write a draft before sending",
        Action.DISMISS: "it is already closed",
        Action.ESCALATE: "it is already escalated",
        Action.REOPEN: "it is still open",
    }
)
_SPECIFIC_HINTS: Mapping[tuple[Action, State], str] = MappingProxyType(
    {
        (Action.NOTIFY, State.NOTIFIED): "staff were already notified",
        (Action.APPROVE, State.CLAIMED): "write a draft before approving",
        (Action.APPROVE, State.APPROVED): "the draft is already approved",
        (Action.SEND, State.CLAIMED): "write a draft before sending",
        (Action.SEND, State.DRAFTED): "the draft needs approval before sending",
        (Action.SEND, State.SENT): "the reply was already sent",
    }
)


def _state(value: State | str) -> State:
    try:
        return State(value)
    except ValueError:
        # a state the code does not know is a bug or a corrupt row, not something staff can fix
        raise ValueError(f"unknown task state {value!r}") from None


def _hint(state: State, action: Action) -> str:
    specific = _SPECIFIC_HINTS.get((action, state))
    if specific is not None:
        return specific
    if state in CLOSED and action is not Action.DISMISS:
        return "reopen it first"
    return _HINTS[action]


def is_open(state: State | str) -> bool:
    """Whether a task in `state` still waits for staff."""
    return _state(state) in OPEN


def can(state: State | str, action: Action | str) -> bool:
    """Whether `action` is allowed on a task in `state`."""
    sources, _ = TRANSITIONS[Action(action)]
    return _state(state) in sources


def advance(state: State | str, action: Action | str) -> State:
    """The state after `action`; `TransitionError` (saying what to do instead) if not allowed."""
    current, act = _state(state), Action(action)
    sources, target = TRANSITIONS[act]
    if current not in sources:
        raise TransitionError(current, act, f"task is {current}: {_hint(current, act)}")
    return target


def allowed(state: State | str) -> list[Action]:
    """The actions a task in `state` allows, in `Action` order (for buttons and help)."""
    current = _state(state)
    return [action for action in Action if current in TRANSITIONS[action][0]]
