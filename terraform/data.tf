resource "google_bigquery_dataset" "metadata" {
  for_each    = toset(var.tenants)
  dataset_id  = "${each.key}_metadata"
  location    = var.bq_location
  description = "Convergence run transitions, step records, DQ results and API keys for ${each.key}."
  labels      = { app = "convergence", tenant = each.key }
}

# Secret containers only; values are added out of band (`gcloud secrets versions add`).
resource "google_secret_manager_secret" "tenant" {
  for_each  = { for p in local.tenant_secret_pairs : p.id => p }
  secret_id = each.key
  labels    = { app = "convergence", tenant = each.value.tenant }
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "runtime_access" {
  for_each  = google_secret_manager_secret.tenant
  secret_id = each.value.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.runtime.email}"
}
