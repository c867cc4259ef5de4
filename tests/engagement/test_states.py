"""The task state machine: every action in every state, against the table in the spec."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement.states import (
    OPEN,
    Action,
    State,
    TransitionError,
    advance,
    allowed,
    can,
    is_open,
)

S = State
# written out from the spec on purpose, not derived from engagement.states.TRANSITIONS
EXPECTED: dict[Action, tuple[set[State], State]] = {
    Action.NOTIFY: ({S.NEW, S.REOPENED, S.ESCALATED}, S.NOTIFIED),
    Action.CLAIM: ({S.NEW, S.NOTIFIED, S.ESCALATED, S.REOPENED}, S.CLAIMED),
    Action.RELEASE: ({S.CLAIMED, S.DRAFTED, S.APPROVED}, S.NOTIFIED),
    Action.DRAFT: ({S.CLAIMED, S.DRAFTED, S.APPROVED}, S.DRAFTED),
    Action.APPROVE: ({S.DRAFTED}, S.APPROVED),
    Action.SEND: ({S.APPROVED}, S.SENT),
    Action.DISMISS: (
        {S.NEW, S.NOTIFIED, S.CLAIMED, S.DRAFTED, S.APPROVED, S.ESCALATED, S.REOPENED},
        S.DISMISSED,
    ),
    Action.ESCALATE: (
        {S.NEW, S.NOTIFIED, S.CLAIMED, S.DRAFTED, S.APPROVED, S.REOPENED},
        S.ESCALATED,
    ),
    Action.REOPEN: ({S.SENT, S.DISMISSED}, S.REOPENED),
}
PRODUCT = list(itertools.product(Action, State))


def test_the_enums_hold_exactly_the_specified_values() -> None:
    assert [s.value for s in State] == [
        "new", "notified", "claimed", "drafted", "approved",
        "sent", "dismissed", "escalated", "reopened",
    ]  # fmt: skip
    assert [a.value for a in Action] == [
        "notify", "claim", "release", "draft", "approve",
        "send", "dismiss", "escalate", "reopen",
    ]  # fmt: skip


def test_open_is_everything_but_sent_and_dismissed() -> None:
    assert set(State) - OPEN == {State.SENT, State.DISMISSED}
    assert is_open("claimed")
    assert not is_open(State.SENT)


@pytest.mark.parametrize(("action", "state"), PRODUCT, ids=[f"{a}-{s}" for a, s in PRODUCT])
def test_every_action_in_every_state_follows_the_table(action: Action, state: State) -> None:
    sources, target = EXPECTED[action]
    assert can(state, action) is (state in sources)
    if state in sources:
        assert advance(state, action) is target
        return
    with pytest.raises(TransitionError) as caught:
        advance(state, action)
    message = str(caught.value)
    assert message.startswith(f"task is {state.value}: ")
    assert "\n" not in message
    assert caught.value.state is state
    assert caught.value.action is action


@pytest.mark.parametrize("state", list(State))
def test_allowed_lists_exactly_the_legal_actions_in_action_order(state: State) -> None:
    expected = [action for action in Action if state in EXPECTED[action][0]]
    assert allowed(state) == expected
    assert allowed(state.value) == expected


@pytest.mark.parametrize(
    ("state", "action", "hint"),
    [
        ("notified", "send", "claim it and write a draft before sending"),
        ("claimed", "send", "write a draft before sending"),
        ("drafted", "send", "the draft needs approval before sending"),
        ("sent", "send", "the reply was already sent"),
        ("claimed", "approve", "write a draft before approving"),
        ("approved", "approve", "the draft is already approved"),
        ("new", "draft", "claim it before writing a draft"),
        ("drafted", "claim", "it is already claimed; take it over instead"),
        ("notified", "release", "nobody has claimed it"),
        ("escalated", "escalate", "it is already escalated"),
        ("dismissed", "dismiss", "it is already closed"),
        ("dismissed", "claim", "reopen it first"),
        ("claimed", "reopen", "it is still open"),
        ("notified", "notify", "staff were already notified"),
    ],
)
def test_refusals_tell_staff_what_to_do(state: str, action: str, hint: str) -> None:
    with pytest.raises(TransitionError, match=f"^task is {state}: {hint}$"):
        advance(state, action)


def test_a_transition_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="task is sent"):
        advance("sent", Action.CLAIM)


def test_strings_are_accepted_and_unknown_ones_refused() -> None:
    assert advance("drafted", "approve") is State.APPROVED
    with pytest.raises(ValueError, match="unknown task state 'lost'"):
        advance("lost", Action.CLAIM)
    with pytest.raises(ValueError, match="unknown task state"):
        allowed("lost")
    with pytest.raises(ValueError, match="is not a valid Action"):
        advance("new", "shout")


def test_the_happy_path_and_a_reopen() -> None:
    state = State.NEW
    for action in ("notify", "claim", "draft", "approve", "send", "reopen", "claim"):
        state = advance(state, action)
    assert state is State.CLAIMED


def test_editing_an_approved_draft_voids_the_approval() -> None:
    assert advance(State.APPROVED, Action.DRAFT) is State.DRAFTED
    with pytest.raises(TransitionError):
        advance(State.DRAFTED, Action.SEND)


@given(st.lists(st.sampled_from(list(Action)), max_size=30))
def test_any_sequence_of_actions_stays_within_the_machine(actions: list[Action]) -> None:
    state = State.NEW
    for action in actions:
        if action in allowed(state):
            state = advance(state, action)
        else:
            with pytest.raises(TransitionError):
                advance(state, action)
    assert allowed(state), "no state is a dead end: closed states can be reopened"


@given(st.lists(st.sampled_from(list(Action)), max_size=30))
def test_a_send_always_directly_follows_an_approval(actions: list[Action]) -> None:
    state, approved = State.NEW, False
    for action in actions:
        if not can(state, action):
            continue
        if action is Action.SEND:
            assert approved
        approved = action is Action.APPROVE
        state = advance(state, action)
