'use strict';
// The usage plans, API keys and method throttles of one REST API (services/file or services/project),
// from deploy/usage-plans.yml: `${file(../../deploy/usage-plans.js):<property>}` in serverless.yml.
// Key values: `imagestore` + the first 48 hex digits of sha256("<stage>/<api>/tenant/<tenantId>") for a
// listed tenant, of sha256("<stage>/<api>/shared") for the key every other tenant shares; the authorizer
// returns the same value (imagestore.auth.usage_identifier_key). API Gateway wants 20-128 letters and
// digits, unique per account and region (hence the stage and the api in what is hashed).

const fs = require('fs');
const path = require('path');
const yaml = require('js-yaml');
const crypto = require('crypto');

function keyValue(stage, api, owner) {
  return `imagestore${crypto.createHash('sha256').update(`${stage}/${api}/${owner}`).digest('hex').slice(0, 48)}`;
}

function stageConfig(stage) {
  const all = yaml.load(fs.readFileSync(path.join(__dirname, 'usage-plans.yml'), 'utf8'));
  return all[stage] || all.default;
}

function planProps(limits) {
  return {
    throttle: { rateLimit: limits.rateLimit, burstLimit: limits.burstLimit },
    quota: { limit: limits.quotaPerDay, period: 'DAY' },
  };
}

// A usage plan's name: letters and digits (it becomes part of a CloudFormation logical id).
function planName(tenantId) {
  const hash = crypto.createHash('sha256').update(tenantId).digest('hex').slice(0, 8);
  return `tenant${tenantId.replace(/[^0-9A-Za-z]/g, '').slice(0, 40)}${hash}`;
}

module.exports = async ({ resolveVariable }) => {
  const stage = await resolveVariable('sls:stage');
  const service = await resolveVariable('self:service');
  const api = service.replace(/^imagestore-/, '');
  const config = stageConfig(stage);
  const tenants = config.tenants || {};
  const prefix = `imagestore-${stage}-${api}`;
  const usagePlan = [{ shared: planProps(config.plan) }];
  const apiKeys = [{ shared: [{ name: `${prefix}-shared`, value: keyValue(stage, api, 'shared') }] }];
  for (const [tenantId, limits] of Object.entries(tenants)) {
    const name = planName(tenantId);
    usagePlan.push({ [name]: planProps({ ...config.plan, ...(limits || {}) }) });
    apiKeys.push({ [name]: [{ name: `${prefix}-tenant-${tenantId}`, value: keyValue(stage, api, `tenant/${tenantId}`),
                              description: `tenant ${tenantId}` }] });
  }
  // Method throttles per key: an extension of each generated usage plan's ApiStages.
  const methods = (config.methods || {})[api] || {};
  const throttle = Object.fromEntries(Object.entries(methods).map(([method, limits]) =>
    [method, { RateLimit: limits.rateLimit, BurstLimit: limits.burstLimit }]));
  const extensions = {};
  if (Object.keys(throttle).length) {
    for (const plan of usagePlan) {
      const name = Object.keys(plan)[0];
      extensions[`ApiGatewayUsagePlan${name.charAt(0).toUpperCase()}${name.slice(1)}`] = {
        Properties: { ApiStages: [{ ApiId: { Ref: 'ApiGatewayRestApi' }, Stage: stage, Throttle: throttle }] },
      };
    }
  }
  return {
    usagePlan,
    apiKeys,
    extensions,
    // IMAGESTORE_USAGE_TENANTS of the authorizer: the tenants with a key of their own.
    tenants: Object.keys(tenants).join(','),
  };
};
