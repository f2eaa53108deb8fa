'use strict';
// The usage plans, API keys and method throttles of one REST API (services/file or services/project),
// from deploy/usage-plans.yml: `${file(../../deploy/usage-plans.js):<property>}` in serverless.yml.
// Key values: `imagestore` + the first 48 hex digits of sha256("<stage>/<api>/plan/<plan>") for a named
// plan, of sha256("<stage>/<api>/shared") for the key of the tenants on none; the authorizer returns the
// same value for the plan the tenant registry gives the caller's tenant (imagestore.auth.usage_identifier_key). API Gateway wants 20-128 letters and
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
function planName(plan) {
  const hash = crypto.createHash('sha256').update(plan).digest('hex').slice(0, 8);
  return `plan${plan.replace(/[^0-9A-Za-z]/g, '').slice(0, 40)}${hash}`;
}

module.exports = async ({ resolveVariable }) => {
  const stage = await resolveVariable('sls:stage');
  const service = await resolveVariable('self:service');
  const api = service.replace(/^imagestore-/, '');
  const config = stageConfig(stage);
  const plans = config.plans || {};
  const prefix = `imagestore-${stage}-${api}`;
  const usagePlan = [{ shared: planProps(config.plan) }];
  const apiKeys = [{ shared: [{ name: `${prefix}-shared`, value: keyValue(stage, api, 'shared') }] }];
  for (const [plan, limits] of Object.entries(plans)) {
    if (!/^[A-Za-z0-9-]{1,40}$/.test(plan)) {
      throw new Error(`deploy/usage-plans.yml: plan name ${JSON.stringify(plan)}: 1-40 letters, digits or '-'`);
    }
    const name = planName(plan);
    usagePlan.push({ [name]: planProps({ ...config.plan, ...(limits || {}) }) });
    apiKeys.push({ [name]: [{ name: `${prefix}-plan-${plan}`, value: keyValue(stage, api, `plan/${plan}`),
                              description: `usage plan ${plan}` }] });
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
  // IMAGESTORE_USAGE_PLAN_LIMITS of the authorizer: each plan's limits ("" for the tenants on none), which
  // it states as the answers' RateLimit-Policy (layer/imagestore/ratelimit.py).
  const limits = { '': config.plan };
  for (const [plan, own] of Object.entries(plans)) limits[plan] = { ...config.plan, ...(own || {}) };
  return {
    usagePlan,
    apiKeys,
    extensions,
    // IMAGESTORE_USAGE_PLANS of the authorizer: the named plans this stage deploys.
    plans: Object.keys(plans).join(','),
    limits: JSON.stringify(limits),
  };
};
