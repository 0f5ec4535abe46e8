# Least privilege, one service account per Cloud Run service:
# - every service runs BigQuery jobs and edits data: tenant datasets are created on a tenant's
#   first run, so no dataset-level grant can exist before them;
# - each publishes only to the topics topology.json lists for it (the API: run-requested), and
#   to the dead-letter topics of the topics it is subscribed to (poison messages);
# - only ingest reads provider keys, only notify reads notification channel secrets (main.tf);
# - only the push invoker may call the handlers (run.tf).

resource "google_service_account" "service" {
  for_each     = local.services
  account_id   = "convergence-${each.key}"
  display_name = "Convergence ${each.key} (Cloud Run)"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "push_invoker" {
  account_id   = "convergence-push"
  display_name = "Pub/Sub push subscriptions → Cloud Run (OIDC)"
  depends_on   = [google_project_service.enabled]
}

resource "google_project_iam_member" "bigquery_jobs" {
  for_each = local.services
  project  = var.project
  role     = "roles/bigquery.jobUser"
  member   = "serviceAccount:${google_service_account.service[each.key].email}"
}

resource "google_project_iam_member" "bigquery_data" {
  for_each = local.services
  project  = var.project
  role     = "roles/bigquery.dataEditor"
  member   = "serviceAccount:${google_service_account.service[each.key].email}"
}

# Spans of a run go to Cloud Trace (write-only role).
resource "google_project_iam_member" "trace_agent" {
  for_each = local.services
  project  = var.project
  role     = "roles/cloudtrace.agent"
  member   = "serviceAccount:${google_service_account.service[each.key].email}"
}

resource "google_pubsub_topic_iam_member" "service_publish" {
  for_each = local.publish_grants
  topic    = google_pubsub_topic.topic[each.value.topic].id
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${google_service_account.service[each.value.service].email}"
}

# A handler dead-letters a message no retry can fix (poison, or a notification its channel
# refuses) itself: only to the dead-letter topics of the topics it is subscribed to.
resource "google_pubsub_topic_iam_member" "service_reject" {
  for_each = local.reject_grants
  topic    = google_pubsub_topic.dead_letter[each.value.topic].id
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${google_service_account.service[each.value.service].email}"
}

# Cloud Scheduler's Pub/Sub targets publish as its service agent: only to run-requested.
resource "google_pubsub_topic_iam_member" "scheduler_publish" {
  topic  = google_pubsub_topic.topic["run-requested"].id
  role   = "roles/pubsub.publisher"
  member = local.scheduler_agent
}

# Pub/Sub mints OIDC tokens for the push invoker.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = google_service_account.push_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# --- Cloud Build (cloudbuild.yaml runs as this account) -------------------------------------
# It pushes images, rolls each service to a new image and calls the API's /healthz; it cannot
# change IAM, secrets or anything else Terraform owns.

resource "google_service_account" "deployer" {
  account_id   = "convergence-deployer"
  display_name = "Cloud Build: test, build, push, deploy Convergence"
  depends_on   = [google_project_service.enabled]
}

resource "google_project_iam_member" "deployer_logs" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_artifact_registry_repository_iam_member" "deployer_push" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_storage_bucket_iam_member" "deployer_sources" {
  bucket = google_storage_bucket.build_sources.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_cloud_run_v2_service_iam_member" "deployer_deploy" {
  for_each = local.services
  name     = google_cloud_run_v2_service.service[each.key].name
  location = var.region
  role     = "roles/run.developer"
  member   = "serviceAccount:${google_service_account.deployer.email}"
}

# Deploying a revision that runs as a service's account needs actAs on that account.
resource "google_service_account_iam_member" "deployer_act_as" {
  for_each           = local.services
  service_account_id = google_service_account.service[each.key].name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.deployer.email}"
}

# The post-deploy smoke check calls GET /healthz on the API.
resource "google_cloud_run_v2_service_iam_member" "deployer_smoke" {
  name     = google_cloud_run_v2_service.service["api"].name
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.deployer.email}"
}
