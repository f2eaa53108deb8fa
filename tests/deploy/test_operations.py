"""Operations: Powertools settings, tracing, log retention, alarms, dead-letter queues."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.templates import SERVICES, STAGE, Template, render


def alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in template.of_type("AWS::CloudWatch::Alarm").items()}


def function_alarm_metrics(template: Template, function: str) -> set[str]:
    """Lambda metrics that have an alarm with this function as the FunctionName dimension."""
    return {
        props["MetricName"]
        for props in alarms(template).values()
        if props.get("Namespace") == "AWS/Lambda"
        and {"Name": "FunctionName", "Value": {"Ref": function}} in props.get("Dimensions", [])
    }


@pytest.mark.parametrize("service", SERVICES)
def test_every_function_is_traced_and_configures_powertools(templates: dict[str, Template], service: str) -> None:
    for name, function in templates[service].functions().items():
        props = function["Properties"]
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert props["Architectures"] == ["arm64"] and props["Runtime"] == "python3.12", name
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"] == service, name
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "imagestore", name
        assert env["POWERTOOLS_LOG_LEVEL"] == "DEBUG", f"{name}: the dev stage logs at DEBUG"


@pytest.mark.parametrize("service", SERVICES)
def test_every_log_group_has_a_retention(templates: dict[str, Template], service: str) -> None:
    template = templates[service]
    groups = template.of_type("AWS::Logs::LogGroup")
    assert len(groups) >= len(template.functions())
    for name, group in groups.items():
        assert group["Properties"].get("RetentionInDays") == 7, f"{name}: dev keeps logs 7 days"


@pytest.mark.parametrize("service", SERVICES)
def test_every_function_has_error_and_throttle_alarms(templates: dict[str, Template], service: str) -> None:
    template = templates[service]
    missing = {name: {"Errors", "Throttles"} - function_alarm_metrics(template, name) for name in template.functions()}
    assert not {name: m for name, m in missing.items() if m}


@pytest.mark.parametrize("service", SERVICES)
def test_every_alarm_notifies_the_exported_alarm_topic(templates: dict[str, Template], service: str) -> None:
    template = templates[service]
    assert template.resources["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    output = template.body["Outputs"]["AlarmTopicArn"]
    assert output["Value"] == {"Ref": "AlarmTopic"} and output["Export"]["Name"]
    for name, props in alarms(template).items():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name


@pytest.mark.parametrize("service", ["file", "project"])
def test_each_api_has_a_5xx_alarm(templates: dict[str, Template], service: str) -> None:
    template = templates[service]
    (api,) = template.of_type("AWS::ApiGateway::RestApi").values()
    expected = [{"Name": "ApiName", "Value": api["Properties"]["Name"]}, {"Name": "Stage", "Value": STAGE}]
    assert any(p.get("MetricName") == "5XXError" and p["Dimensions"] == expected for p in alarms(template).values())


def test_table_throttles_raise_an_alarm(templates: dict[str, Template]) -> None:
    template = templates["file"]
    watched = set()
    for props in alarms(template).values():
        for query in props.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") == "AWS/DynamoDB":
                dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
                assert dims["TableName"] == {"Ref": "Table"}
                watched.add((metric["MetricName"], dims.get("GlobalSecondaryIndexName")))
    indexes = [i["IndexName"] for i in template.resources["Table"]["Properties"]["GlobalSecondaryIndexes"]]
    expected = {(m, i) for m in ("ReadThrottleEvents", "WriteThrottleEvents") for i in [None, *indexes]}
    assert watched == expected


def asynchronous_functions(template: Template) -> set[str]:
    """Functions invoked asynchronously: S3 notifications and EventBridge rules (schedules too)."""
    targets = set()
    for bucket in template.of_type("AWS::S3::Bucket").values():
        config = bucket["Properties"].get("NotificationConfiguration", {})
        targets |= {str(render(c["Function"])) for c in config.get("LambdaConfigurations", [])}
    for rule in template.of_type("AWS::Events::Rule").values():
        targets |= {str(render(t["Arn"])) for t in rule["Properties"].get("Targets", [])}
    names = {t.removeprefix("GetAtt:").removesuffix(".Arn") for t in targets}
    return {name for name in names if template.resources[name]["Type"] == "AWS::Lambda::Function"}


@pytest.mark.parametrize("service", SERVICES)
def test_rules_that_target_a_queue_keep_what_they_cannot_deliver(templates: dict[str, Template], service: str) -> None:
    template = templates[service]
    for rule in template.of_type("AWS::Events::Rule").values():
        for target in rule["Properties"].get("Targets", []):
            name = str(render(target["Arn"])).removeprefix("GetAtt:").removesuffix(".Arn")
            if template.resources[name]["Type"] == "AWS::SQS::Queue":
                dead_letters = str(render(target["DeadLetterConfig"]["Arn"])).removeprefix("GetAtt:")
                assert template.resources[dead_letters.removesuffix(".Arn")]["Type"] == "AWS::SQS::Queue"


@pytest.mark.parametrize("service", SERVICES)
def test_asynchronous_handlers_send_failures_to_an_alarmed_dead_letter_queue(
    templates: dict[str, Template], service: str
) -> None:
    template = templates[service]
    configs = {
        c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
        for c in template.of_type("AWS::Lambda::EventInvokeConfig").values()
    }
    watched_queues = {
        str(render(d["Value"])).removeprefix("GetAtt:").removesuffix(".QueueName")
        for props in alarms(template).values()
        if props.get("MetricName") == "ApproximateNumberOfMessagesVisible"
        for d in props["Dimensions"]
    }
    for function in asynchronous_functions(template):
        destination = configs[function]["DestinationConfig"]["OnFailure"]["Destination"]
        queue = str(render(destination)).removeprefix("GetAtt:").removesuffix(".Arn")
        assert template.resources[queue]["Type"] == "AWS::SQS::Queue", function
        assert queue in watched_queues, f"{function}: no alarm on {queue}"
    for mapping in template.of_type("AWS::Lambda::EventSourceMapping").values():
        source = str(render(mapping["Properties"]["EventSourceArn"])).removeprefix("GetAtt:").removesuffix(".Arn")
        if source in template.resources and template.resources[source]["Type"] == "AWS::SQS::Queue":
            # An SQS source keeps its failures by the queue's redrive policy (OnFailure is for streams).
            dead_letters = render(template.resources[source]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
            assert str(dead_letters).removeprefix("GetAtt:").removesuffix(".Arn") in watched_queues, source
        else:
            assert mapping["Properties"].get("DestinationConfig", {}).get("OnFailure"), "stream failures are kept"


def test_object_created_is_asynchronous_and_covered(templates: dict[str, Template]) -> None:
    assert "ObjectCreatedLambdaFunction" in asynchronous_functions(templates["file"])


def test_the_sweep_schedule_fans_out_one_run_per_group_and_lets_them_all_run(
    templates: dict[str, Template],
) -> None:
    """The rule sends one fan-out event a period; the function may invoke itself (and nothing else) and
    its reserved concurrency lets every group's run go at once, with a next period's run overlapping."""
    import json

    from scheduler_service.models import ScheduledRun

    template = templates["scheduler"]
    runs = [
        ScheduledRun.model_validate(json.loads(target["Input"])).detail
        for rule in template.of_type("AWS::Events::Rule").values()
        for target in rule["Properties"]["Targets"]
        if str(render(target["Arn"])) == "GetAtt:SweepLambdaFunction.Arn"
    ]
    (run,) = runs
    assert run.fan_out and run.groups > 1 and run.period_seconds == 900
    props = template.functions()["SweepLambdaFunction"]["Properties"]
    assert props["ReservedConcurrentExecutions"] >= 2 * run.groups + 1
    role = template.resources[props["Role"]["Fn::GetAtt"][0]]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    (invoke,) = [s for s in statements if "lambda:InvokeFunction" in str(s["Action"])]
    assert str(render(invoke["Resource"])).endswith(f":function:{props['FunctionName']}")


def test_a_growing_sweep_backlog_raises_an_alarm(templates: dict[str, Template]) -> None:
    """The backlog the sweep publishes (SweepBacklog, summed over the groups) has an alarm on its growth."""
    template = templates["scheduler"]
    env = template.functions()["SweepLambdaFunction"]["Properties"]["Environment"]["Variables"]
    (alarm,) = [
        a
        for a in alarms(template).values()
        if any(
            q.get("MetricStat", {}).get("Metric", {}).get("MetricName") == "SweepBacklog" for q in a.get("Metrics", [])
        )
    ]
    (backlog,) = [q for q in alarm["Metrics"] if "MetricStat" in q]
    metric = backlog["MetricStat"]["Metric"]
    assert metric["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
    assert metric["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert backlog["MetricStat"]["Stat"] == "Sum"
    (growth,) = [q for q in alarm["Metrics"] if q.get("ReturnData")]
    assert growth["Expression"] == f"DIFF({backlog['Id']})"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0


def test_a_sweep_that_falls_behind_for_an_hour_raises_an_alarm(templates: dict[str, Template]) -> None:
    """The alarm watches the metric the sweep handler publishes (tests/service/test_scheduler.py checks the
    handler's side): namespace and the Powertools service dimension as the function's environment sets them."""
    template = templates["scheduler"]
    env = template.functions()["SweepLambdaFunction"]["Properties"]["Environment"]["Variables"]
    (alarm,) = [a for a in alarms(template).values() if a.get("MetricName") == "SweepRunsIncomplete"]
    assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert alarm["Statistic"] == "Maximum" and alarm["Threshold"] == 1
    assert alarm["Period"] * alarm["DatapointsToAlarm"] == 3600
