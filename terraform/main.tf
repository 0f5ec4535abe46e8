resource "google_bigquery_dataset" "metadata" {
  for_each    = toset(local.tenant_ids)
  dataset_id  = "${each.key}_metadata"
  location    = var.bq_location
  description = "Convergence run transitions, step records, DQ results and API keys for ${each.key}."
  labels      = { app = "convergence", tenant = each.key }

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }

  depends_on = [google_project_service.enabled, google_kms_crypto_key_iam_member.cmek]
}

# Secret containers only, one per (tenant, secret name) with the id lib/adapters/secret_manager.py
# reads; values are added out of band (docs/deploy.md). Provider keys (sources' auth.secret) are
# read by ingest only, notification channel secrets (notifications.yml) by notify only.
resource "google_secret_manager_secret" "tenant" {
  for_each  = local.secrets
  secret_id = each.value.secret_id
  labels    = { app = "convergence", tenant = each.value.tenant_id }
  replication {
    auto {}
  }
  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_iam_member" "ingest_access" {
  for_each  = { for id, s in local.secrets : id => s if contains(s.readers, "ingest") }
  secret_id = google_secret_manager_secret.tenant[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.service["ingest"].email}"
}

resource "google_secret_manager_secret_iam_member" "notify_access" {
  for_each   = { for id, s in local.secrets : id => s if contains(s.readers, "notify") }
  secret_id  = google_secret_manager_secret.tenant[each.key].id
  role       = "roles/secretmanager.secretAccessor"
  member     = "serviceAccount:${google_service_account.service["notify"].email}"
  depends_on = [google_project_service.enabled]
}
