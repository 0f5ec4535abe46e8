# Where cloudbuild.yaml pushes the one image every service runs.
resource "google_artifact_registry_repository" "images" {
  repository_id = var.repository
  location      = var.region
  format        = "DOCKER"
  description   = "Convergence container images (tagged with the commit they were built from)."
  kms_key_name  = var.kms_key_name
  labels        = { app = "convergence" }

  docker_config {
    immutable_tags = true
  }

  depends_on = [google_project_service.enabled, google_kms_crypto_key_iam_member.cmek]
}

# Source archives of `gcloud builds submit --gcs-source-staging-dir=gs://<this>/source`: the
# build runs as the deployer account, which reads its source from here and nowhere else.
resource "google_storage_bucket" "build_sources" {
  #checkov:skip=CKV_GCP_62:Holds only throw-away build source archives (deleted after 30 days); access is already in Cloud Audit Logs.
  name                        = "${var.project}-convergence-build"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = { app = "convergence" }

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}
