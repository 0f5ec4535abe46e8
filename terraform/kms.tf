# Optional CMEK: with var.kms_key_name set, BigQuery datasets (Terraform's and those the
# handlers create, via CONVERGENCE_BQ_KMS_KEY), Pub/Sub topics and the image registry are
# encrypted with that key. The key must live where all three can use it: the region of
# var.region, with var.bq_location set to that same region (docs/deploy.md).

locals {
  cmek_agents = {
    artifactregistry = "serviceAccount:${google_project_service_identity.agent["artifactregistry.googleapis.com"].email}"
    bigquery         = "serviceAccount:${data.google_bigquery_default_service_account.this.email}"
    pubsub           = local.pubsub_agent
  }
}

resource "google_kms_crypto_key_iam_member" "cmek" {
  for_each      = { for name, member in local.cmek_agents : name => member if var.kms_key_name != null }
  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.value
}
