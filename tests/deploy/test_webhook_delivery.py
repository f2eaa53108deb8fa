"""The packaged webhook delivery path: bus rule -> queue (redrive to a DLQ after the retry schedule's
attempts, retention beyond it) -> function (partial batch failures), and its alarms."""

from __future__ import annotations

import json

from imagestore.config import Settings
from project_service.logic.webhook_delivery import MAX_ATTEMPTS, MAX_VISIBILITY_SECONDS, retry_schedule
from tests.deploy.templates import Template, render


def test_failed_deliveries_are_retried_for_over_a_day_then_dead_lettered(templates: dict[str, Template]) -> None:
    resources = templates["project"].resources
    queue = resources["WebhookQueue"]["Properties"]
    redrive = queue["RedrivePolicy"]
    assert render(redrive["deadLetterTargetArn"]) == "GetAtt:WebhookDeadLetterQueue.Arn"
    assert int(redrive["maxReceiveCount"]) == MAX_ATTEMPTS
    schedule = retry_schedule(Settings().webhook_retry_base_seconds)
    assert schedule[-1] >= 24 * 3600  # the last attempt comes more than a day after the first
    assert int(queue["MessageRetentionPeriod"]) > schedule[-1] + MAX_VISIBILITY_SECONDS
    assert int(resources["WebhookDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]) == 1209600


def test_the_bus_rule_feeds_the_queue_and_only_it_may_send(templates: dict[str, Template]) -> None:
    resources = templates["project"].resources
    rule = resources["WebhookEventsRule"]["Properties"]
    assert rule["EventPattern"] == {"source": ["imagestore.webhooks"]}
    assert [render(t["Arn"]) for t in rule["Targets"]] == ["GetAtt:WebhookQueue.Arn"]
    [statement] = resources["WebhookQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert render(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == "GetAtt:WebhookEventsRule.Arn"


def test_the_delivery_function_reports_partial_batch_failures(templates: dict[str, Template]) -> None:
    template = templates["project"]
    [props] = [
        m["Properties"]
        for m in template.of_type("AWS::Lambda::EventSourceMapping").values()
        if render(m["Properties"]["EventSourceArn"]) == "GetAtt:WebhookQueue.Arn"
    ]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert render(props["EventSourceArn"]) == "GetAtt:WebhookQueue.Arn"
    function = next(
        f for f in template.functions().values() if f["Properties"]["FunctionName"].endswith("-webhookDelivery")
    )
    # AWS's advice for an SQS source: the queue's visibility timeout at least 6x the function's timeout.
    visibility = int(template.resources["WebhookQueue"]["Properties"]["VisibilityTimeout"])
    assert visibility >= 6 * function["Properties"]["Timeout"]
    assert "IMAGESTORE_WEBHOOK_QUEUE_URL" in function["Properties"]["Environment"]["Variables"]


def test_dead_letters_disabled_endpoints_and_lost_events_are_alarmed(templates: dict[str, Template]) -> None:
    alarms = templates["project"].of_type("AWS::CloudWatch::Alarm")
    metrics = {a["Properties"]["MetricName"] for a in alarms.values()}
    assert {"WebhookEndpointsDisabled", "IteratorAge"} <= metrics
    dead = alarms["WebhookDeadLetterAlarm"]["Properties"]
    assert render(dead["Dimensions"][0]["Value"]) == "GetAtt:WebhookDeadLetterQueue.QueueName"


def test_the_outbox_relay_reads_only_event_log_writes_and_keeps_failed_batches(
    templates: dict[str, Template],
) -> None:
    """Events are written with their change (the event log is the outbox); webhookRelay reads the table's
    stream, filtered to the event log's INSERT/MODIFY records, bisects a failing batch, and records one that
    failed every retry in the webhooks DLQ. Producers no longer put on the bus."""
    template = templates["project"]
    mappings = [
        m["Properties"]
        for m in template.of_type("AWS::Lambda::EventSourceMapping").values()
        if "WebhookRelay" in str(render(m["Properties"]["FunctionName"]))
    ]
    assert len(mappings) == 1
    [mapping] = mappings
    assert mapping["BisectBatchOnFunctionError"] is True and mapping["BatchSize"] <= 10
    assert render(mapping["DestinationConfig"]["OnFailure"]["Destination"]) == "GetAtt:WebhookDeadLetterQueue.Arn"
    [pattern] = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    assert pattern == {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {"sk": {"S": ["EVENT"]}}}}
    watched = {
        render(a["Properties"]["Dimensions"][0]["Value"])
        for a in template.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Dimensions")
    }
    assert "Ref:WebhookRelayLambdaFunction" in watched
