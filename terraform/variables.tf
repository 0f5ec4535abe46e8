variable "project" {
  description = "GCP project that hosts Convergence."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run services, Scheduler jobs, image registry and build bucket."
  type        = string
  default     = "europe-west1"
}

variable "bq_location" {
  description = "Location of every BigQuery dataset (the services get it as CONVERGENCE_BQ_LOCATION)."
  type        = string
  default     = "EU"
}

variable "image" {
  description = "First image of every service (cloudbuild.yaml rolls out later ones with gcloud run deploy)."
  type        = string
}

variable "repository" {
  description = "Artifact Registry repository the images are pushed to (cloudbuild.yaml's _REPOSITORY)."
  type        = string
  default     = "convergence"
}

variable "kms_key_name" {
  description = "Optional CMEK key (projects/P/locations/L/keyRings/R/cryptoKeys/K) for datasets, topics and the image registry; L must suit region and bq_location."
  type        = string
  default     = null
  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must look like projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "service_sizing" {
  description = "Per-service Cloud Run sizing. ingest and transform load data (spooling to /tmp, which is memory): keep their concurrency at 1."
  type = map(object({
    cpu           = string
    memory        = string
    concurrency   = number
    max_instances = number
  }))
  default = {
    ingest    = { cpu = "1", memory = "2Gi", concurrency = 1, max_instances = 10 }
    transform = { cpu = "1", memory = "2Gi", concurrency = 1, max_instances = 10 }
    dq        = { cpu = "1", memory = "512Mi", concurrency = 4, max_instances = 10 }
    notify    = { cpu = "1", memory = "512Mi", concurrency = 8, max_instances = 3 }
    api       = { cpu = "1", memory = "512Mi", concurrency = 40, max_instances = 5 }
  }
}

variable "default_service_sizing" {
  description = "Sizing of a service missing from service_sizing (a handler added to topology.json)."
  type = object({
    cpu           = string
    memory        = string
    concurrency   = number
    max_instances = number
  })
  default = { cpu = "1", memory = "1Gi", concurrency = 1, max_instances = 10 }
}

variable "api_timeout_seconds" {
  description = "Request timeout of the HTTP control plane."
  type        = number
  default     = 60
}

# --- alerting (monitoring.tf) ----------------------------------------------------------------

variable "alert_notification_channels" {
  description = "Existing Cloud Monitoring notification channel ids (projects/P/notificationChannels/N: PagerDuty, Slack, SMS…) every alert policy notifies."
  type        = list(string)
  default     = []
}

variable "alert_emails" {
  description = "Email addresses that get an email notification channel of their own, notified by every alert policy."
  type        = list(string)
  default     = []
}

variable "run_5xx_ratio_threshold" {
  description = "Alert when a Convergence Cloud Run service answers more than this share of requests with 5xx over 5 minutes."
  type        = number
  default     = 0.05
  validation {
    condition     = var.run_5xx_ratio_threshold > 0 && var.run_5xx_ratio_threshold < 1
    error_message = "run_5xx_ratio_threshold is a share of requests between 0 and 1 (0.05 = 5%)."
  }
}

variable "bigquery_bytes_billed_threshold" {
  description = "Alert when BigQuery queries in the project bill more bytes than this per bigquery_bytes_billed_window_seconds (default 1 TiB)."
  type        = number
  default     = 1099511627776
}

variable "bigquery_bytes_billed_window_seconds" {
  description = "The window bigquery_bytes_billed_threshold applies to (alerting allows at most 90000 s, 25 hours)."
  type        = number
  default     = 86400
  validation {
    condition     = var.bigquery_bytes_billed_window_seconds >= 60 && var.bigquery_bytes_billed_window_seconds <= 90000
    error_message = "bigquery_bytes_billed_window_seconds must be between 60 and 90000 (Cloud Monitoring's longest alignment period for alerts)."
  }
}
