"""Bad templates give one clear line naming the stack and the resource."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcloud.deploy import Deployer, StackSpec, TemplateError
from localcloud.server import MotoServer, PortInUseError


def write(tmp: Path, body: str) -> Path:
    path = tmp / "template.yaml"
    path.write_text(body)
    (tmp / "src").mkdir(exist_ok=True)
    return path


def render(tmp: Path, body: str) -> None:
    Deployer(None, None, "us-east-1").render(StackSpec("sdp-bad", write(tmp, body)))  # type: ignore[arg-type]


def test_invalid_sam_names_stack_and_resource(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"stack sdp-bad: Resource with id \[FnQ\] is invalid"):
        render(
            tmp_path,
            """
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      {FunctionName: f, CodeUri: src/, Handler: a.b, Runtime: python3.13,
       Events: {Q: {Type: SQS, Properties: {}}}}
""",
        )


def test_missing_code_directory_names_the_resource(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"stack sdp-bad, resource Fn: CodeUri 'nowhere/'"):
        render(
            tmp_path,
            """
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: f, CodeUri: nowhere/, Handler: a.b, Runtime: python3.13}
""",
        )


def test_yaml_error_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"template.yaml: cannot read template"):
        render(tmp_path, "Resources: [unclosed")


def test_port_in_use_is_reported(tmp_path: Path) -> None:
    import socket

    from pytest_socket import enable_socket

    enable_socket()  # binding a local port is the point of this test; nothing is sent
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is already in use"):
            MotoServer(port=port).start()
