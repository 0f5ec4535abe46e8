resource "google_service_account" "runtime" {
  account_id   = "convergence-runtime"
  display_name = "Convergence handlers (BigQuery, Pub/Sub publish, secrets)"
}

resource "google_service_account" "push_invoker" {
  account_id   = "convergence-push"
  display_name = "Pub/Sub push subscriptions → Cloud Run (OIDC)"
}

# Least privilege: run queries/load jobs, edit datasets, publish events, read secrets.
resource "google_project_iam_member" "runtime_bq_jobs" {
  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.runtime.email}"
}

resource "google_project_iam_member" "runtime_bq_data" {
  project = var.project
  role    = "roles/bigquery.dataEditor"
  member  = "serviceAccount:${google_service_account.runtime.email}"
}

resource "google_pubsub_topic_iam_member" "runtime_publish" {
  for_each = local.topics
  topic    = google_pubsub_topic.topic[each.key].id
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${google_service_account.runtime.email}"
}

# `convergence replay` (run with the runtime identity) pulls dead letters.
resource "google_pubsub_subscription_iam_member" "runtime_replay" {
  for_each     = local.dead_letter_topics
  subscription = google_pubsub_subscription.dead_letter_hold[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.runtime.email}"
}

# Cloud Scheduler's Pub/Sub targets publish as its service agent: only to run-requested.
resource "google_pubsub_topic_iam_member" "scheduler_publish" {
  topic  = google_pubsub_topic.topic["run-requested"].id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
}

# Pub/Sub mints OIDC tokens for the push invoker.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = google_service_account.push_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}
