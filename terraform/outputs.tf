output "service_urls" {
  description = "Cloud Run URL of every handler and the API."
  value       = { for k, s in google_cloud_run_v2_service.service : k => s.uri }
}

output "image_repository" {
  description = "Push images here: <this>/convergence:<tag> (cloudbuild.yaml does)."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}"
}

output "deployer_service_account" {
  description = "The account cloudbuild.yaml runs as (give it to the Cloud Build trigger)."
  value       = google_service_account.deployer.id
}

output "build_source_bucket" {
  description = "gcloud builds submit --gcs-source-staging-dir=gs://<this>/source"
  value       = google_storage_bucket.build_sources.name
}

output "service_accounts" {
  description = "The account each service runs as (grant ingest read access to billing exports)."
  value       = { for k, a in google_service_account.service : k => a.email }
}
