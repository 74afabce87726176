"""The run state machine: SCHEDULED -> RUNNING -> FINISHED | FAILED | KILLED, and
SCHEDULED -> KILLED. Terminal runs are frozen: nothing more is logged to them."""

from __future__ import annotations

from controlplane.errors import FailedPrecondition, InvalidArgument
from controlplane.v1 import experiment_service_pb2 as pb

SCHEDULED = pb.RUN_STATE_SCHEDULED
RUNNING = pb.RUN_STATE_RUNNING
FINISHED = pb.RUN_STATE_FINISHED
FAILED = pb.RUN_STATE_FAILED
KILLED = pb.RUN_STATE_KILLED

TRANSITIONS: dict[int, frozenset[int]] = {
    SCHEDULED: frozenset({RUNNING, KILLED}),
    RUNNING: frozenset({FINISHED, FAILED, KILLED}),
    FINISHED: frozenset(),
    FAILED: frozenset(),
    KILLED: frozenset(),
}
TERMINAL = frozenset(state for state, targets in TRANSITIONS.items() if not targets)


def state_name(state: int) -> str:
    return pb.RunState.Name(state)


def initial_state(requested: int) -> int:
    """The state a new run starts in: RUNNING unless SCHEDULED is asked for."""
    if requested in (pb.RUN_STATE_UNSPECIFIED, RUNNING):
        return RUNNING
    if requested == SCHEDULED:
        return SCHEDULED
    raise InvalidArgument.for_field(
        "run.state", "a new run starts as RUN_STATE_RUNNING or RUN_STATE_SCHEDULED"
    )


def check_transition(current: int, target: int, name: str) -> None:
    if target == current:
        return
    if target not in TRANSITIONS:
        raise InvalidArgument.for_field("run.state", f"{target} is not a run state")
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(state_name(s) for s in TRANSITIONS[current])) or "none"
        raise FailedPrecondition(
            f"{name} cannot move from {state_name(current)} to {state_name(target)} "
            f"(allowed: {allowed})",
            metadata={"resource": name, "state": state_name(current)},
        )


def check_accepts_data(current: int, name: str) -> None:
    """Params and metrics are logged only while a run is RUNNING."""
    if current != RUNNING:
        raise FailedPrecondition(
            f"{name} is {state_name(current)}; params and metrics can only be logged to a "
            "RUN_STATE_RUNNING run",
            metadata={"resource": name, "state": state_name(current)},
        )
