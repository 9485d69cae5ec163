"""Every local-only rewrite, one test each (localcloud/rewrites.py)."""

from __future__ import annotations

import json

from localcloud import rewrites


def sam_function(**props: object) -> dict[str, object]:
    return {"Type": "AWS::Serverless::Function", "Properties": props}


def test_sqs_event_sources_are_deployed_disabled() -> None:
    sam = {
        "Resources": {
            "Fn": sam_function(
                Events={
                    "Q": {"Type": "SQS", "Properties": {"Queue": "arn", "BatchSize": 5}},
                    "Api": {"Type": "HttpApi", "Properties": {"Path": "/x", "Method": "post"}},
                }
            )
        }
    }
    out = rewrites.disable_sqs_event_sources(sam)
    assert out["Resources"]["Fn"]["Properties"]["Events"]["Q"]["Properties"] == {
        "Queue": "arn",
        "BatchSize": 5,
        "Enabled": False,
    }
    assert "Enabled" not in sam["Resources"]["Fn"]["Properties"]["Events"]["Q"]["Properties"]


def test_http_api_events_and_apis_are_served_locally_instead() -> None:
    sam = {
        "Resources": {
            "Api": {"Type": "AWS::Serverless::HttpApi", "Properties": {}},
            "Fn": sam_function(
                Events={"Post": {"Type": "HttpApi", "Properties": {"Path": "/events"}}}
            ),
        }
    }
    out = rewrites.drop_http_api_events(sam)
    assert set(out["Resources"]) == {"Fn"}
    assert out["Resources"]["Fn"]["Properties"]["Events"] == {}


def test_layers_are_replaced_by_the_runtime_path() -> None:
    sam = {
        "Globals": {"Function": {"Layers": ["arn"]}},
        "Resources": {
            "Fn": sam_function(Layers=["arn"]),
            "Layer": {
                "Type": "AWS::Serverless::LayerVersion",
                "Properties": {"ContentUri": "layer/"},
            },
            "LayerArn": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Ref": "Layer"}}},
        },
    }
    out = rewrites.drop_function_layers(sam)
    assert set(out["Resources"]) == {"Fn"}
    assert "Layers" not in out["Resources"]["Fn"]["Properties"]
    assert "Layers" not in out["Globals"]["Function"]


def test_refs_to_an_event_bus_become_its_name() -> None:
    cfn = {
        "Resources": {
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "sdp-bus"}},
            "Rule": {"Type": "AWS::Events::Rule", "Properties": {"EventBusName": {"Ref": "Bus"}}},
            "Param": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Ref": "Bus"}}},
            "Other": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "Name"}}},
        }
    }
    out = rewrites.inline_event_bus_refs(cfn)
    assert out["Resources"]["Rule"]["Properties"]["EventBusName"] == "sdp-bus"
    assert out["Resources"]["Param"]["Properties"]["Value"] == "sdp-bus"
    assert out["Resources"]["Other"]["Properties"]["QueueName"] == {"Ref": "Name"}


def test_an_archive_pattern_is_given_as_text() -> None:
    pattern = {"source": ["sdp.ingest"], "detail-type": ["RecordsIngested"]}
    cfn = {
        "Resources": {
            "Archive": {"Type": "AWS::Events::Archive", "Properties": {"EventPattern": pattern}},
            "Rule": {"Type": "AWS::Events::Rule", "Properties": {"EventPattern": pattern}},
        }
    }
    out = rewrites.archive_patterns_as_text(cfn)
    assert json.loads(out["Resources"]["Archive"]["Properties"]["EventPattern"]) == pattern
    assert out["Resources"]["Rule"]["Properties"]["EventPattern"] == pattern
    assert cfn["Resources"]["Archive"]["Properties"]["EventPattern"] == pattern  # a copy


def test_unsupported_resources_and_what_points_at_them_are_dropped() -> None:
    cfn = {
        "Resources": {
            "Dashboard": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {}},
            "Policy": {"Type": "AWS::SQS::QueuePolicy", "Properties": {}},
            "Layer": {"Type": "AWS::Lambda::LayerVersion", "Properties": {}},
            "LayerParam": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Value": {"Ref": "Layer"}},
            },
            "Queue": {"Type": "AWS::SQS::Queue", "DependsOn": ["Policy"], "Properties": {}},
        },
        "Outputs": {
            "DashboardName": {"Value": {"Ref": "Dashboard"}},
            "Q": {"Value": {"Ref": "Queue"}},
        },
    }
    out = rewrites.drop_unsupported_resources(cfn)
    assert set(out["Resources"]) == {"Queue"}
    assert "DependsOn" not in out["Resources"]["Queue"]
    assert set(out["Outputs"]) == {"Q"}


def test_the_contract_registry_is_deployed_locally() -> None:
    """The platform's AWS::EventSchemas::* block goes through every CloudFormation
    rewrite untouched: the local cloud serves the Schemas API and deploys it."""
    from sdptools.contracts.cloudformation import registry_resources

    block = registry_resources()
    cfn = {
        "Resources": block,
        "Outputs": {"Registry": {"Value": {"Fn::GetAtt": ["ContractRegistry", "RegistryArn"]}}},
    }
    out = rewrites.apply(rewrites.CFN_REWRITES, cfn)
    assert out["Resources"] == block
    assert set(out["Outputs"]) == {"Registry"}
    assert not {"AWS::EventSchemas::Registry", "AWS::EventSchemas::Schema"} & set(
        rewrites.UNSUPPORTED_LOCALLY
    )


def test_rewrites_are_listed_in_one_place() -> None:
    assert (
        rewrites.disable_sqs_event_sources,
        rewrites.drop_http_api_events,
        rewrites.drop_function_layers,
    ) == rewrites.SAM_REWRITES
    assert (
        rewrites.inline_event_bus_refs,
        rewrites.archive_patterns_as_text,
        rewrites.drop_unsupported_resources,
        rewrites.drop_dangling,
    ) == rewrites.CFN_REWRITES


def test_unused_parameters_and_dangling_outputs_are_dropped() -> None:
    cfn = {
        "Parameters": {"LayerArn": {"Type": "String"}, "BusName": {"Type": "String"}},
        "Resources": {
            "Rule": {
                "Type": "AWS::Events::Rule",
                "Properties": {"EventBusName": {"Ref": "BusName"}},
            }
        },
        "Outputs": {
            "Url": {
                "Value": {"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.amazonaws.com"}
            },
            "Rule": {"Value": {"Fn::GetAtt": ["Rule", "Arn"]}},
        },
    }
    out = rewrites.drop_dangling(cfn)
    assert set(out["Parameters"]) == {"BusName"}
    assert set(out["Outputs"]) == {"Rule"}


def _dropped_locally(resource_type: str) -> None:
    cfn = {
        "Resources": {
            "It": {"Type": resource_type, "Properties": {"Name": "x"}},
            "Param": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Ref": "It"}}},
            "Policy": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {}}},
        },
        "Outputs": {"It": {"Value": {"Ref": "It"}}},
    }
    out = rewrites.drop_unsupported_resources(cfn)
    assert set(out["Resources"]) == {"Policy"}
    assert out["Outputs"] == {}
    assert resource_type in rewrites.UNSUPPORTED_LOCALLY


def test_glue_databases_are_left_out() -> None:
    _dropped_locally("AWS::Glue::Database")


def test_glue_tables_and_views_are_left_out() -> None:
    _dropped_locally("AWS::Glue::Table")


def test_athena_workgroups_are_left_out() -> None:
    _dropped_locally("AWS::Athena::WorkGroup")


def test_scheduler_schedules_are_left_out_and_run_by_the_local_cloud() -> None:
    _dropped_locally("AWS::Scheduler::Schedule")
    assert "schedules.py" in rewrites.UNSUPPORTED_LOCALLY["AWS::Scheduler::Schedule"]
