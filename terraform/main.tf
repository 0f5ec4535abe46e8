# Everything event-shaped comes from ../events/topology.json and ./schedules.json, the same data
# the in-process bus and `convergence schedules export` use, so local and cloud cannot drift.

locals {
  topology  = jsondecode(file("${path.module}/../events/topology.json"))
  schedules = jsondecode(file("${path.module}/schedules.json"))
  defaults  = local.topology.defaults

  topics             = { for t in local.topology.topics : t.name => t }
  dead_letter_topics = { for t in local.topology.topics : t.dead_letter_topic => t if t.dead_letter_topic != null }
  subscriptions      = { for s in local.topology.subscriptions : s.name => s }
  handlers           = { for h in local.topology.handlers : h.name => h }
  services           = merge({ for h in local.topology.handlers : h.name => h.entry_point }, { api = "api" })

  tenant_secret_pairs = flatten([
    for tenant, names in var.tenant_secrets : [
      for name in names : { tenant = tenant, name = name, id = "convergence-${tenant}-${replace(name, "_", "-")}" }
    ]
  ])
}

data "google_project" "this" {}

locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}
