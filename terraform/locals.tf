# Everything named comes from data the code writes or reads, so Terraform and the code cannot
# drift: ../events/topology.json (topics, subscriptions, handlers, what each publishes),
# ./schedules.json (`convergence schedules export`) and ./tenants.json (`convergence tenants
# export`: each tenant and the exact Secret Manager id of every secret its sources name).
# tests/deploy/ evaluates this configuration and checks it against the code.

locals {
  topology  = jsondecode(file("${path.module}/../events/topology.json"))
  schedules = jsondecode(file("${path.module}/schedules.json"))
  tenants   = jsondecode(file("${path.module}/tenants.json")).tenants
  defaults  = local.topology.defaults

  topics             = { for t in local.topology.topics : t.name => t }
  dead_letter_topics = { for t in local.topology.topics : t.dead_letter_topic => t if t.dead_letter_topic != null }
  subscriptions      = { for s in local.topology.subscriptions : s.name => s }
  handlers           = { for h in local.topology.handlers : h.name => h }

  # One Cloud Run service per topology handler (CloudEvent functions behind push subscriptions)
  # plus the HTTP control plane, which may only publish run-requested.
  services = merge(
    {
      for h in local.topology.handlers : h.name => {
        entry_point = h.entry_point
        signature   = "cloudevent"
        publishes   = h.publishes
        public      = false
      }
    },
    { api = { entry_point = "api", signature = "http", publishes = ["run-requested"], public = true } },
  )

  # Publisher grants: each service on exactly the topics it publishes to.
  publish_grants = {
    for g in flatten([
      for name, s in local.services : [for topic in s.publishes : { service = name, topic = topic }]
    ]) : "${g.service}/${g.topic}" => g
  }

  # Dead-letter grants: a handler dead-letters a poison (or undeliverable) message at once by
  # publishing it to the dead-letter topic of the topic it came from (lib/steps/poison.py).
  reject_grants = {
    for g in flatten([
      for h in local.topology.handlers : [
        for t in local.topology.topics : { service = h.name, topic = t.dead_letter_topic }
        if t.dead_letter_topic != null && contains([for s in local.topology.subscriptions : s.topic if s.handler == h.name], t.name)
      ]
    ]) : "${g.service}/${g.topic}" => g
  }

  sizing = { for name, _ in local.services : name => lookup(var.service_sizing, name, var.default_service_sizing) }

  # The control plane's health endpoints (lib/api): liveness never touches the warehouse,
  # readiness checks the warehouse and the bus.
  health = { liveness = "/healthz", readiness = "/readyz" }

  # Environment of every service: the settings lib/settings.py reads in cloud mode.
  runtime_env = merge(
    {
      CONVERGENCE_MODE        = "cloud"
      GOOGLE_CLOUD_PROJECT    = var.project
      CONVERGENCE_BQ_LOCATION = var.bq_location
    },
    { for k, v in { CONVERGENCE_BQ_KMS_KEY = var.kms_key_name } : k => v if v != null },
  )

  tenant_ids = [for t in local.tenants : t.tenant_id]
  secrets    = { for s in flatten([for t in local.tenants : t.secrets]) : s.secret_id => s }
}
