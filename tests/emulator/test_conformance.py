"""Conformance: each test checks one AWS SWF behaviour that stock moto 5.2 gets wrong.

Tests run against one emulator process per module (2 s polls), each test on a fresh domain.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from tests.emulator.conftest import (
    ACT_TYPE,
    ACTIVITIES,
    DECISIONS,
    WF_TYPE,
    Swf,
    complete,
    schedule,
)
from tests.support.emulator import EmulatorProcess


def error_code(excinfo: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def in_thread(function: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def target() -> None:
        started = time.monotonic()
        box["result"] = function()
        box["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=target)
    thread.start()
    return thread, box


def started_activity(swf: Swf, **attributes: Any) -> tuple[dict[str, str], dict[str, Any]]:
    execution = swf.start()
    swf.decide(swf.poll_decision()["taskToken"], schedule(**attributes))
    return execution, swf.poll_activity()


# -- long polling ------------------------------------------------------------------------------


def test_empty_decision_poll_waits_for_the_poll_timeout(swf: Swf) -> None:
    """PollForDecisionTask long-polls: with no task it waits up to the poll timeout (60 s on AWS;
    2 s here) and returns an empty taskToken. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_PollForDecisionTask.html"""
    started = time.monotonic()
    assert not swf.poll_decision().get("taskToken")
    assert time.monotonic() - started >= 1.9


def test_decision_poll_wakes_when_a_task_is_scheduled(swf: Swf) -> None:
    """A waiting PollForDecisionTask returns as soon as a decision task is scheduled.
    https://docs.aws.amazon.com/amazonswf/latest/apireference/API_PollForDecisionTask.html"""
    thread, box = in_thread(swf.poll_decision)
    execution = swf.start()
    thread.join()
    assert box["result"]["workflowExecution"] == execution
    assert box["elapsed"] < 1.0


def test_activity_poll_wakes_when_a_task_is_scheduled(swf: Swf) -> None:
    """A waiting PollForActivityTask returns as soon as an activity task is scheduled, and an
    empty one waits for the poll timeout. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_PollForActivityTask.html"""
    started = time.monotonic()
    assert not swf.poll_activity().get("taskToken")
    assert time.monotonic() - started >= 1.9
    swf.start()
    token = swf.poll_decision()["taskToken"]
    thread, box = in_thread(swf.poll_activity)
    swf.decide(token, schedule())
    thread.join()
    assert box["result"]["activityId"] == "a1"
    assert box["elapsed"] < 1.0


# -- cancellation ------------------------------------------------------------------------------


def test_request_cancel_workflow_execution(swf: Swf) -> None:
    """RequestCancelWorkflowExecution records WorkflowExecutionCancelRequested and schedules a
    decision task; the CancelWorkflowExecution decision then closes the run as CANCELED.
    https://docs.aws.amazon.com/amazonswf/latest/apireference/API_RequestCancelWorkflowExecution.html"""
    execution = swf.start()
    swf.decide(swf.poll_decision()["taskToken"])
    swf.client.request_cancel_workflow_execution(domain=swf.domain, **execution)
    task = swf.poll_decision()
    assert task["events"][-3]["eventType"] == "WorkflowExecutionCancelRequested"
    assert swf.describe(execution)["executionInfo"]["cancelRequested"] is True
    swf.decide(task["taskToken"], {"decisionType": "CancelWorkflowExecution"})
    assert swf.describe(execution)["executionInfo"]["closeStatus"] == "CANCELED"


def test_request_cancel_activity_task_reaches_the_heartbeat(swf: Swf) -> None:
    """The RequestCancelActivityTask decision records ActivityTaskCancelRequested; the next
    heartbeat returns cancelRequested=true; RespondActivityTaskCanceled records
    ActivityTaskCanceled and schedules a decision task.
    https://docs.aws.amazon.com/amazonswf/latest/apireference/API_RecordActivityTaskHeartbeat.html https://docs.aws.amazon.com/amazonswf/latest/apireference/API_RespondActivityTaskCanceled.html"""
    execution, activity = started_activity(swf)
    heartbeat = swf.client.record_activity_task_heartbeat
    assert heartbeat(taskToken=activity["taskToken"])["cancelRequested"] is False
    swf.client.signal_workflow_execution(domain=swf.domain, signalName="stop", **execution)
    cancel = {
        "decisionType": "RequestCancelActivityTask",
        "requestCancelActivityTaskDecisionAttributes": {"activityId": "a1"},
    }
    swf.decide(swf.poll_decision()["taskToken"], cancel)
    assert "ActivityTaskCancelRequested" in swf.types(execution)
    assert heartbeat(taskToken=activity["taskToken"])["cancelRequested"] is True
    swf.client.respond_activity_task_canceled(taskToken=activity["taskToken"], details="bye")
    task = swf.poll_decision()
    canceled = [e for e in task["events"] if e["eventType"] == "ActivityTaskCanceled"]
    assert canceled[0]["activityTaskCanceledEventAttributes"]["details"] == "bye"


# -- decision task scheduling ------------------------------------------------------------------


def test_at_most_one_decision_task_scheduled(swf: Swf) -> None:
    """New events while a decision task is scheduled or started add no second scheduled task;
    the next one is scheduled when the started one completes.
    https://docs.aws.amazon.com/amazonswf/latest/apireference/API_PollForDecisionTask.html"""
    execution = swf.start()
    for name in ("s1", "s2"):
        swf.client.signal_workflow_execution(domain=swf.domain, signalName=name, **execution)
    task = swf.poll_decision()
    for name in ("s3", "s4"):
        swf.client.signal_workflow_execution(domain=swf.domain, signalName=name, **execution)
    assert swf.types(execution).count("DecisionTaskScheduled") == 1
    swf.decide(task["taskToken"])
    assert swf.types(execution).count("DecisionTaskScheduled") == 2
    assert (
        swf.client.count_pending_decision_tasks(domain=swf.domain, taskList={"name": DECISIONS})[
            "count"
        ]
        == 1
    )


def test_close_decision_with_unhandled_events_fails(swf: Swf) -> None:
    """A close decision while new events arrived since the task started is refused with
    cause UNHANDLED_DECISION and a new decision task is scheduled.
    https://docs.aws.amazon.com/amazonswf/latest/apireference/API_CompleteWorkflowExecutionFailedEventAttributes.html"""
    execution = swf.start()
    task = swf.poll_decision()
    swf.client.signal_workflow_execution(domain=swf.domain, signalName="late", **execution)
    swf.decide(task["taskToken"], complete())
    types = swf.types(execution)
    assert "CompleteWorkflowExecutionFailed" in types
    assert types[-1] == "DecisionTaskScheduled"
    assert swf.describe(execution)["executionInfo"]["executionStatus"] == "OPEN"


# -- activity timeouts -------------------------------------------------------------------------


def test_heartbeat_clock_starts_when_the_task_starts(swf: Swf) -> None:
    """The heartbeat timeout counts from the task's start and from each heartbeat, not from
    scheduling. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_ScheduleActivityTaskDecisionAttributes.html"""
    swf.start()
    swf.decide(swf.poll_decision()["taskToken"], schedule(heartbeatTimeout="1"))
    time.sleep(1.3)  # time must pass between scheduling and starting: that is what is tested
    activity = swf.poll_activity()
    response = swf.client.record_activity_task_heartbeat(taskToken=activity["taskToken"])
    assert response["cancelRequested"] is False
    swf.client.respond_activity_task_completed(taskToken=activity["taskToken"], result="ok")


@pytest.mark.parametrize(
    ("attributes", "poll_activity", "timeout_type"),
    [
        ({"startToCloseTimeout": "1"}, True, "START_TO_CLOSE"),
        ({"scheduleToStartTimeout": "1"}, False, "SCHEDULE_TO_START"),
        ({"scheduleToCloseTimeout": "1"}, True, "SCHEDULE_TO_CLOSE"),
        ({"heartbeatTimeout": "1"}, True, "HEARTBEAT"),
    ],
)
def test_activity_timeouts_fire_by_time(
    swf: Swf, attributes: dict[str, str], poll_activity: bool, timeout_type: str
) -> None:
    """Each activity timeout is enforced by time (no other API call needed: the worker died)
    and wakes the decider with ActivityTaskTimedOut of the right timeoutType; the dead task's
    token then gets UnknownResourceFault. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_ActivityTaskTimedOutEventAttributes.html"""
    swf.start()
    swf.decide(swf.poll_decision()["taskToken"], schedule(**attributes))
    token = swf.poll_activity()["taskToken"] if poll_activity else None
    task = swf.poll_decision()  # the only call in flight: a long poll
    timed_out = [e for e in task["events"] if e["eventType"] == "ActivityTaskTimedOut"]
    assert timed_out[0]["activityTaskTimedOutEventAttributes"]["timeoutType"] == timeout_type
    if token:
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            swf.client.respond_activity_task_completed(taskToken=token)
        assert error_code(excinfo) == "UnknownResourceFault"
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_timer_fires_by_time_and_can_be_canceled(swf: Swf) -> None:
    """StartTimer records TimerStarted; TimerFired follows after startToFireTimeout and
    schedules a decision task; CancelTimer records TimerCanceled. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_StartTimerDecisionAttributes.html"""
    execution = swf.start()
    timers = [
        {
            "decisionType": "StartTimer",
            "startTimerDecisionAttributes": {"timerId": t, "startToFireTimeout": s},
        }
        for t, s in (("short", "1"), ("long", "600"))
    ]
    swf.decide(swf.poll_decision()["taskToken"], *timers)
    task = swf.poll_decision()
    assert "TimerFired" in [e["eventType"] for e in task["events"]]
    cancel = {"decisionType": "CancelTimer", "cancelTimerDecisionAttributes": {"timerId": "long"}}
    swf.decide(task["taskToken"], cancel)
    assert swf.types(execution)[-1] == "TimerCanceled"
    assert swf.describe(execution)["openCounts"]["openTimers"] == 0


# -- paging ------------------------------------------------------------------------------------


def test_history_pages_and_reverse_order(swf: Swf) -> None:
    """GetWorkflowExecutionHistory pages with maximumPageSize/nextPageToken and honours
    reverseOrder. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_GetWorkflowExecutionHistory.html"""
    execution = swf.start()
    for index in range(23):
        swf.client.signal_workflow_execution(domain=swf.domain, signalName=f"s{index}", **execution)
    full = swf.client.get_workflow_execution_history(domain=swf.domain, execution=execution)[
        "events"
    ]
    assert len(full) == 25
    pages, token = [], None
    while True:
        kwargs = {"nextPageToken": token} if token else {}
        page = swf.client.get_workflow_execution_history(
            domain=swf.domain, execution=execution, maximumPageSize=10, **kwargs
        )
        pages.append(page["events"])
        token = page.get("nextPageToken")
        if not token:
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [e for p in pages for e in p] == full
    reverse = swf.client.get_workflow_execution_history(
        domain=swf.domain, execution=execution, reverseOrder=True
    )
    assert reverse["events"] == full[::-1]


def test_history_page_size_defaults_to_and_is_capped_at_1000(swf: Swf) -> None:
    """Without maximumPageSize a page holds at most 1,000 events (then nextPageToken); a size
    over 1,000 is a ValidationException. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_GetWorkflowExecutionHistory.html"""
    execution = swf.start()
    for index in range(1005):
        swf.client.signal_workflow_execution(domain=swf.domain, signalName=f"s{index}", **execution)
    first = swf.client.get_workflow_execution_history(domain=swf.domain, execution=execution)
    assert len(first["events"]) == 1000 and first["nextPageToken"]
    rest = swf.client.get_workflow_execution_history(
        domain=swf.domain, execution=execution, nextPageToken=first["nextPageToken"]
    )
    assert [e["eventId"] for e in rest["events"]] == list(range(1001, 1008))
    with pytest.raises(swf.client.exceptions.ClientError) as refused:
        swf.client.get_workflow_execution_history(
            domain=swf.domain, execution=execution, maximumPageSize=1001
        )
    assert refused.value.response["Error"]["Code"].endswith("ValidationException")


def test_decision_task_pages(swf: Swf) -> None:
    """PollForDecisionTask pages the history with maximumPageSize; following nextPageToken
    returns the rest of the same task. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_PollForDecisionTask.html"""
    execution = swf.start()
    for index in range(10):
        swf.client.signal_workflow_execution(domain=swf.domain, signalName=f"s{index}", **execution)
    first = swf.poll_decision(maximumPageSize=5)
    second = swf.poll_decision(maximumPageSize=5, nextPageToken=first["nextPageToken"])
    third = swf.poll_decision(maximumPageSize=5, nextPageToken=second["nextPageToken"])
    assert first["taskToken"] == second["taskToken"] == third["taskToken"]
    events = first["events"] + second["events"] + third["events"]
    assert [e["eventId"] for e in events] == list(range(1, first["startedEventId"] + 1))
    assert "nextPageToken" not in third


def test_start_at_previous_started_event(swf: Swf) -> None:
    """With startAtPreviousStartedEvent the decision task holds only the events after the
    previous DecisionTaskStarted, and previousStartedEventId names it. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_PollForDecisionTask.html"""
    execution = swf.start()
    first = swf.poll_decision()
    swf.decide(first["taskToken"])
    swf.client.signal_workflow_execution(domain=swf.domain, signalName="go", **execution)
    second = swf.poll_decision(startAtPreviousStartedEvent=True)
    assert second["previousStartedEventId"] == first["startedEventId"]
    assert second["events"][0]["eventId"] == first["startedEventId"] + 1
    assert second["events"][-1]["eventType"] == "DecisionTaskStarted"


# -- validation --------------------------------------------------------------------------------


def test_none_timeouts_are_accepted(shared_emulator: EmulatorProcess) -> None:
    """ "NONE" is a valid value for task and activity timeouts (no limit); the run proceeds.
    https://docs.aws.amazon.com/amazonswf/latest/apireference/API_RegisterActivityType.html"""
    swf = Swf(shared_emulator, "none-timeouts")
    swf.setup(defaultTaskHeartbeatTimeout="NONE", defaultTaskStartToCloseTimeout="NONE")
    swf.start(taskStartToCloseTimeout="NONE")
    swf.decide(swf.poll_decision()["taskToken"], schedule())
    activity = swf.poll_activity()
    swf.client.respond_activity_task_completed(taskToken=activity["taskToken"])
    swf.decide(swf.poll_decision()["taskToken"], complete())


def test_invalid_timeouts_are_validation_errors(swf: Swf) -> None:
    """An invalid timeout value is a 400 ValidationException and the service keeps working.
    https://docs.aws.amazon.com/amazonswf/latest/apireference/API_StartWorkflowExecution.html"""
    calls = [
        lambda: swf.client.register_activity_type(
            domain=swf.domain, name="Bad", version="1", defaultTaskHeartbeatTimeout="soon"
        ),
        lambda: swf.start(taskStartToCloseTimeout="-5"),
        lambda: swf.start(executionStartToCloseTimeout="NONE"),
    ]
    for call in calls:
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            call()
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    token = swf.start() and swf.poll_decision()["taskToken"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        swf.decide(token, schedule(startToCloseTimeout="forever"))
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    swf.decide(token, complete())  # the task is still usable after the rejected call


def test_bad_decision_attributes_are_validation_errors(swf: Swf) -> None:
    """A decision missing a required attribute is rejected with a 400 ValidationException and
    nothing is applied. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_RespondDecisionTaskCompleted.html"""
    execution = swf.start()
    token = swf.poll_decision()["taskToken"]
    bad_decisions = [
        schedule(activityId=None),  # required attribute missing
        schedule(activityType={"name": ACT_TYPE["name"]}),  # no version
        {"decisionType": "StartTimer", "startTimerDecisionAttributes": {"timerId": "t"}},
    ]
    raw = boto3.client(
        "swf",
        region_name="us-east-1",
        endpoint_url=swf.client.meta.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(parameter_validation=False),  # let the server judge
    )
    for bad in bad_decisions:
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            raw.respond_decision_task_completed(taskToken=token, decisions=[bad])
        assert error_code(excinfo) == "ValidationException"
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "DecisionTaskCompleted" not in swf.types(execution)
    swf.decide(token, complete())  # nothing was applied: the task is still open


def test_unknown_activity_type_is_schedule_activity_task_failed(swf: Swf) -> None:
    """Scheduling an unregistered activity type records ScheduleActivityTaskFailed with cause
    ACTIVITY_TYPE_DOES_NOT_EXIST and schedules a decision task. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_ScheduleActivityTaskFailedEventAttributes.html"""
    execution = swf.start()
    decision = schedule(activityType={"name": "Nope", "version": "9"})
    swf.decide(swf.poll_decision()["taskToken"], decision)
    task = swf.poll_decision()
    failed = [e for e in task["events"] if e["eventType"] == "ScheduleActivityTaskFailed"]
    assert (
        failed[0]["scheduleActivityTaskFailedEventAttributes"]["cause"]
        == "ACTIVITY_TYPE_DOES_NOT_EXIST"
    )
    assert swf.describe(execution)["executionInfo"]["executionStatus"] == "OPEN"


def test_duplicate_open_workflow_id_is_already_started(swf: Swf) -> None:
    """Starting a second run with the workflowId of an open run raises
    WorkflowExecutionAlreadyStartedFault. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_StartWorkflowExecution.html
    (The one test here that stock moto passes: it guards the emulator's own index of open runs
    by workflowId, which replaced moto's scan of every run.)"""
    swf.start("same")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        swf.start("same")
    assert error_code(excinfo) == "WorkflowExecutionAlreadyStartedFault"


# -- listing and describing ----------------------------------------------------------------------


def test_list_filters_and_open_counts(swf: Swf) -> None:
    """List{Open,Closed}WorkflowExecutions apply tag, execution, type and close-status filters
    and page; DescribeWorkflowExecution reports openCounts and real timestamps.
    https://docs.aws.amazon.com/amazonswf/latest/apireference/API_ListOpenWorkflowExecutions.html https://docs.aws.amazon.com/amazonswf/latest/apireference/API_ListClosedWorkflowExecutions.html"""
    tagged = swf.start("tagged", tagList=["blue"])
    for index in range(3):
        swf.start(f"plain-{index}")
    since = {"oldestDate": time.time() - 60}
    listing = swf.client.list_open_workflow_executions
    assert len(listing(domain=swf.domain, startTimeFilter=since)["executionInfos"]) == 4
    blue = listing(domain=swf.domain, startTimeFilter=since, tagFilter={"tag": "blue"})[
        "executionInfos"
    ]
    assert [i["execution"] for i in blue] == [tagged]
    by_id = listing(
        domain=swf.domain, startTimeFilter=since, executionFilter={"workflowId": "plain-1"}
    )
    assert len(by_id["executionInfos"]) == 1
    by_type = listing(
        domain=swf.domain, startTimeFilter=since, typeFilter={"name": WF_TYPE["name"]}
    )
    assert len(by_type["executionInfos"]) == 4
    page = listing(domain=swf.domain, startTimeFilter=since, maximumPageSize=3)
    rest = listing(
        domain=swf.domain,
        startTimeFilter=since,
        maximumPageSize=3,
        nextPageToken=page["nextPageToken"],
    )
    assert len(page["executionInfos"]) + len(rest["executionInfos"]) == 4
    swf.client.terminate_workflow_execution(domain=swf.domain, workflowId="plain-0")
    closed = swf.client.list_closed_workflow_executions(
        domain=swf.domain, closeTimeFilter=since, closeStatusFilter={"status": "TERMINATED"}
    )["executionInfos"]
    assert [i["execution"]["workflowId"] for i in closed] == ["plain-0"]
    counts = swf.describe(tagged)["openCounts"]
    assert counts["openDecisionTasks"] == 1 and counts["openActivityTasks"] == 0
    assert swf.describe(tagged)["executionInfo"]["startTimestamp"].timestamp() > since["oldestDate"]


def test_count_pending_activity_tasks(swf: Swf) -> None:
    """CountPendingActivityTasks counts scheduled, not yet started, tasks of the list.
    https://docs.aws.amazon.com/amazonswf/latest/apireference/API_CountPendingActivityTasks.html"""
    swf.start()
    swf.decide(swf.poll_decision()["taskToken"], schedule("a1"), schedule("a2"))
    count = swf.client.count_pending_activity_tasks(
        domain=swf.domain, taskList={"name": ACTIVITIES}
    )
    assert count["count"] == 2
    swf.poll_activity()
    count = swf.client.count_pending_activity_tasks(
        domain=swf.domain, taskList={"name": ACTIVITIES}
    )
    assert count["count"] == 1


def test_closed_runs_are_pruned_after_retention(tmp_path: Any) -> None:
    """Closed runs are forgotten after the retention period (SWF: the domain's retention), so
    memory stays bounded. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_RegisterDomain.html"""
    with EmulatorProcess.start(tmp_path, "--poll-timeout", "2", "--retention", "1") as emulator:
        swf = Swf(emulator)
        swf.setup()
        execution = swf.start()
        swf.decide(swf.poll_decision()["taskToken"], complete())
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                swf.describe(execution)
            except botocore.exceptions.ClientError as error:
                assert error.response["Error"]["Code"] == "UnknownResourceFault"
                return
            swf.poll_decision()  # a 2 s wait that is itself a request
        pytest.fail("closed run was never pruned")


def test_decision_task_start_to_close_timeout(swf: Swf) -> None:
    """A started decision task not answered within taskStartToCloseTimeout records
    DecisionTaskTimedOut (START_TO_CLOSE) and a new decision task is scheduled; the old token
    is then unknown. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_DecisionTaskTimedOutEventAttributes.html"""
    swf.start(taskStartToCloseTimeout="1")
    stale = swf.poll_decision()["taskToken"]
    task = swf.poll_decision()  # woken by the timeout, with no other call
    timed_out = [e for e in task["events"] if e["eventType"] == "DecisionTaskTimedOut"]
    assert timed_out[0]["decisionTaskTimedOutEventAttributes"]["timeoutType"] == "START_TO_CLOSE"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        swf.decide(stale, complete())
    assert error_code(excinfo) == "UnknownResourceFault"
    swf.decide(task["taskToken"], complete())


def test_workflow_execution_timeout(swf: Swf) -> None:
    """A run open past executionStartToCloseTimeout closes as TIMED_OUT with
    WorkflowExecutionTimedOut, by time. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_WorkflowExecutionTimedOutEventAttributes.html"""
    execution = swf.start(executionStartToCloseTimeout="1")
    deadline = time.monotonic() + 10
    while swf.describe(execution)["executionInfo"]["executionStatus"] == "OPEN":
        assert time.monotonic() < deadline, "run never timed out"
        time.sleep(0.1)
    assert swf.describe(execution)["executionInfo"]["closeStatus"] == "TIMED_OUT"
    assert swf.types(execution)[-1] == "WorkflowExecutionTimedOut"


def test_marker_and_fail_workflow_execution(swf: Swf) -> None:
    """RecordMarker records MarkerRecorded; FailWorkflowExecution closes the run as FAILED with
    its reason and details. https://docs.aws.amazon.com/amazonswf/latest/apireference/API_FailWorkflowExecutionDecisionAttributes.html"""
    execution = swf.start()
    marker = {
        "decisionType": "RecordMarker",
        "recordMarkerDecisionAttributes": {"markerName": "m", "details": "d"},
    }
    fail = {
        "decisionType": "FailWorkflowExecution",
        "failWorkflowExecutionDecisionAttributes": {"reason": "r", "details": "x"},
    }
    swf.decide(swf.poll_decision()["taskToken"], marker, fail)
    history = swf.history(execution)
    assert [e["eventType"] for e in history][-2:] == ["MarkerRecorded", "WorkflowExecutionFailed"]
    assert history[-1]["workflowExecutionFailedEventAttributes"]["reason"] == "r"
    assert swf.describe(execution)["executionInfo"]["closeStatus"] == "FAILED"


def test_terminate_closes_tasks(swf: Swf) -> None:
    """TerminateWorkflowExecution closes the run at once; its open activity task's token is
    then unknown (UnknownResourceFault). https://docs.aws.amazon.com/amazonswf/latest/apireference/API_TerminateWorkflowExecution.html"""
    execution, activity = started_activity(swf)
    swf.client.terminate_workflow_execution(domain=swf.domain, reason="stop", **execution)
    assert swf.describe(execution)["executionInfo"]["closeStatus"] == "TERMINATED"
    assert swf.describe(execution)["openCounts"]["openActivityTasks"] == 0
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        swf.client.record_activity_task_heartbeat(taskToken=activity["taskToken"])
    assert error_code(excinfo) == "UnknownResourceFault"
