import pytest

from app.domain.states import (APPLICATION_TRANSITIONS, ApplicationStatus as S, IllegalTransition,
                               allowed_actions, next_application_status)

ALLOWED = [(state, action, target) for (state, action), target in APPLICATION_TRANSITIONS.items()]
ACTIONS = sorted({action for (_, action) in APPLICATION_TRANSITIONS})


@pytest.mark.parametrize("state,action,target", ALLOWED)
def test_allowed_transitions(state, action, target):
    assert next_application_status(state, action) is target


@pytest.mark.parametrize("state,action", [
    (state, action) for state in S for action in ACTIONS
    if (state, action) not in APPLICATION_TRANSITIONS
])
def test_every_other_transition_is_refused_with_a_message(state, action):
    with pytest.raises(IllegalTransition) as exc:
        next_application_status(state, action)
    assert state.label.lower() in str(exc.value)


def test_final_states_allow_nothing():
    assert allowed_actions(S.WITHDRAWN) == []
    assert allowed_actions(S.DECIDED) == []


def test_a_submitted_application_cannot_be_submitted_again():
    with pytest.raises(IllegalTransition):
        next_application_status(S.SUBMITTED, "submit")
