package soak

// soakPolicy is the policy the soak's API and workers run under (POLICY_FILE): real time,
// seller windows long enough that injected failures and restarts delay orders rather than
// fail them (the window counts only attempts that reached the seller), acceptance clocks
// longer than the driver takes (the buyer decides, not the timer), and short grace and
// retention so that expiries and arrears reach their release within the run.
//
// Customers of level V5 keep a frozen subscription for a minute, so that a renewal can
// still rescue it; every other level releases it after a few seconds.
const soakPolicy = `
timeScale: 1
seller:
  newInstance: {interval: 1s, window: 60s}
  poll: {interval: 1s, window: 60s}
  calls: {interval: 1s, window: 60s}
  perSeller: {callsPerSecond: 200, concurrency: 32}
supervision:
  acceptanceWindow: {saas: 30m, license: 30m, package: 30m, hardware: 30m, service: 30m}
  refundHold: 2s
  rejectionLimit: 3
  deploymentSLA: 30m
  redeliverySLA: 30m
  licenseWait: 10m
  firstDeliverySLA: 30m
  shipmentSLA: 30m
  signoffSLA: 30m
appeals:
  tiers: [30m, 30m]
  lastTierSLA: 30m
  maxPerOrder: 3
history:
  maxEventsPerRun: 300
settlement: {statementDay: 3, statementHour: 2}
health: {hour: 1, failingDays: 5, failingDayShare: 0.5, monthlyFailedOrders: 5}
defaultLevel: V2
levels:
  V5: {subscription: {grace: 2s, retention: 60s}, payPerUse: {grace: 1s, retention: 60s}}
  V4: {subscription: {grace: 2s, retention: 4s}, payPerUse: {grace: 0s, retention: 4s}}
  V3: {subscription: {grace: 2s, retention: 4s}, payPerUse: {grace: 1s, retention: 4s}}
  V2: {subscription: {grace: 2s, retention: 4s}, payPerUse: {grace: 1s, retention: 4s}}
  V1: {subscription: {grace: 2s, retention: 4s}, payPerUse: {grace: 0s, retention: 4s}}
  V0: {subscription: {grace: 2s, retention: 4s}, payPerUse: {grace: 0s, retention: 4s}}
`
