variable "project" {
  description = "GCP project that hosts Convergence."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run services and Scheduler jobs."
  type        = string
  default     = "europe-west1"
}

variable "bq_location" {
  description = "Location of every BigQuery dataset (must match CONVERGENCE_BQ_LOCATION)."
  type        = string
  default     = "EU"
}

variable "image" {
  description = "Container image built by cloudbuild.yaml (one image, one target per handler)."
  type        = string
}

variable "tenants" {
  description = "Tenant ids; each gets its metadata dataset up front (others are created on first run)."
  type        = list(string)
  default     = []
}

variable "tenant_secrets" {
  description = "Secret names per tenant (e.g. {acme = [\"openai_admin_key\"]}); values are added out of band."
  type        = map(list(string))
  default     = {}
}
