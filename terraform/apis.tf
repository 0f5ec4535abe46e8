# An empty project: enable every API the system calls, then create the Google-managed service
# agents that IAM bindings below name (enabling an API does not create its agent).

locals {
  apis = toset(concat(
    [
      "artifactregistry.googleapis.com",
      "bigquery.googleapis.com",
      "cloudbuild.googleapis.com",
      "cloudresourcemanager.googleapis.com",
      "cloudscheduler.googleapis.com",
      "cloudtrace.googleapis.com",
      "iam.googleapis.com",
      "iamcredentials.googleapis.com",
      "logging.googleapis.com",
      "monitoring.googleapis.com",
      "pubsub.googleapis.com",
      "run.googleapis.com",
      "secretmanager.googleapis.com",
      "storage.googleapis.com",
    ],
    var.kms_key_name == null ? [] : ["cloudkms.googleapis.com"],
  ))
  agents = toset([
    "artifactregistry.googleapis.com",
    "cloudscheduler.googleapis.com",
    "pubsub.googleapis.com",
  ])
  pubsub_agent    = "serviceAccount:${google_project_service_identity.agent["pubsub.googleapis.com"].email}"
  scheduler_agent = "serviceAccount:${google_project_service_identity.agent["cloudscheduler.googleapis.com"].email}"
}

resource "google_project_service" "enabled" {
  for_each           = local.apis
  project            = var.project
  service            = each.key
  disable_on_destroy = false
}

resource "google_project_service_identity" "agent" {
  provider   = google-beta
  for_each   = local.agents
  project    = var.project
  service    = each.key
  depends_on = [google_project_service.enabled]
}

# BigQuery encrypts with CMEK as this account (read at apply time, after the API is on).
data "google_bigquery_default_service_account" "this" {
  depends_on = [google_project_service.enabled]
}
