# Packaging targets; the root Makefile includes this file (`include deploy/package.mk`).
#   make layer           build/layer/python: runtime deps for python3.12 arm64 + layer/imagestore
#   make package         package the three services offline, report artifact sizes, lint templates
#   make lint-templates  cfn-lint on the packaged templates (zero errors, zero warnings)

DEPLOY_PYTHON ?= $(CURDIR)/.venv/bin/python
DEPLOY_STAGE ?= dev
DEPLOY_REGION ?= eu-west-1
CFN_LINT ?= $(dir $(DEPLOY_PYTHON))cfn-lint

.PHONY: layer package lint-templates

layer:
	PYTHON=$(DEPLOY_PYTHON) deploy/build_layer.sh

package:
	PYTHON=$(DEPLOY_PYTHON) STAGE=$(DEPLOY_STAGE) REGION=$(DEPLOY_REGION) deploy/package.sh
	$(CFN_LINT) --config-file deploy/cfnlintrc.yaml

lint-templates:
	$(CFN_LINT) --config-file deploy/cfnlintrc.yaml
