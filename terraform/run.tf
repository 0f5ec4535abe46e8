# One image, one Cloud Run service per handler (FUNCTION_TARGET picks the entry point).
# Handlers are internal-only and invocable solely by the push invoker; the API is reachable but
# still requires IAM (no allUsers) and API keys on top.
resource "google_cloud_run_v2_service" "service" {
  for_each = local.services
  name     = "convergence-${each.key}"
  location = var.region
  ingress  = each.key == "api" ? "INGRESS_TRAFFIC_ALL" : "INGRESS_TRAFFIC_INTERNAL_ONLY"

  template {
    service_account = google_service_account.runtime.email
    timeout         = "${local.defaults.ack_deadline_seconds}s"
    scaling {
      max_instance_count = 10
    }
    containers {
      image = var.image
      env {
        name  = "FUNCTION_TARGET"
        value = each.value
      }
      env {
        name  = "FUNCTION_SOURCE"
        value = "handlers/${each.key}.py"
      }
      env {
        name  = "FUNCTION_SIGNATURE_TYPE"
        value = each.key == "api" ? "http" : "cloudevent"
      }
      env {
        name  = "CONVERGENCE_MODE"
        value = "cloud"
      }
      env {
        name  = "GOOGLE_CLOUD_PROJECT"
        value = var.project
      }
      env {
        name  = "CONVERGENCE_BQ_LOCATION"
        value = var.bq_location
      }
      resources {
        limits = { cpu = "1", memory = "1Gi" }
      }
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "push_invoker" {
  for_each = local.handlers
  name     = google_cloud_run_v2_service.service[each.key].name
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push_invoker.email}"
}
