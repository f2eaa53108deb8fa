"""The custom domain: the templates create nothing for it (docs/deploy.md step 5 says what the platform team
creates by hand), and the customDomain param only sets the URL the functions build links with."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.templates import SERVICES, Template

DOCS = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
BY_HAND = ("AWS::CertificateManager::Certificate", "AWS::ApiGateway::DomainName", "AWS::ApiGateway::BasePathMapping")


def test_no_template_creates_a_domain_and_the_docs_say_what_to_create_by_hand(templates: dict[str, Template]) -> None:
    for service in SERVICES:
        for resource_type in (*BY_HAND, "AWS::Route53::RecordSet", "AWS::ApiGatewayV2::DomainName"):
            assert not templates[service].of_type(resource_type), (service, resource_type)
    step = DOCS.read_text(encoding="utf-8").split("## 5. A custom domain")[1].split("\n## ")[0]
    for needed in ("ACM certificate", "create-domain-name", "create-base-path-mapping", "CNAME", "customDomain"):
        assert needed in step, needed
    assert "create nothing for a custom domain" in step


def test_the_custom_domain_param_is_only_the_links_base_url(templates: dict[str, Template]) -> None:
    for service in ("file", "project"):
        template = templates[service]
        assert "CustomDomain" in template.body["Parameters"]
        assert "HasCustomDomain" in template.body["Conditions"]
