# One image, one Cloud Run service per handler (FUNCTION_TARGET picks the entry point).
# Handlers are internal-only and invocable solely by the push invoker; the API is reachable but
# still requires IAM (no allUsers) and API keys on top.
#
# Sizing (variables.tf): ingest and transform load data, spooling to /tmp, which is memory on
# Cloud Run, so they take one request at a time; every service scales to zero. A handler's
# request timeout is the subscriptions' ack deadline, so Pub/Sub never redelivers a message
# whose first delivery is still running.
#
# cloudbuild.yaml rolls out new images with `gcloud run deploy --image`, so Terraform ignores
# the image after creation (var.image is the first image only): see docs/deploy.md.
resource "google_cloud_run_v2_service" "service" {
  for_each = local.services
  name     = "convergence-${each.key}"
  location = var.region
  ingress  = each.value.public ? "INGRESS_TRAFFIC_ALL" : "INGRESS_TRAFFIC_INTERNAL_ONLY"
  labels   = { app = "convergence", service = each.key }

  template {
    service_account                  = google_service_account.service[each.key].email
    timeout                          = each.value.public ? "${var.api_timeout_seconds}s" : "${local.defaults.ack_deadline_seconds}s"
    max_instance_request_concurrency = local.sizing[each.key].concurrency

    scaling {
      min_instance_count = 0
      max_instance_count = local.sizing[each.key].max_instances
    }

    containers {
      image = var.image

      resources {
        limits            = { cpu = local.sizing[each.key].cpu, memory = local.sizing[each.key].memory }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = merge(local.runtime_env, {
          FUNCTION_TARGET         = each.value.entry_point
          FUNCTION_SOURCE         = "handlers/${each.key}.py"
          FUNCTION_SIGNATURE_TYPE = each.value.signature
        })
        content {
          name  = env.key
          value = env.value
        }
      }

      # The API gets traffic once ready (the startup probe gates it, as a readiness check
      # would) and is restarted when its liveness endpoint stops answering. Handlers keep
      # Cloud Run's default TCP startup probe: CloudEvent functions serve no GET routes.
      dynamic "startup_probe" {
        for_each = each.value.public ? [local.health.readiness] : []
        content {
          period_seconds    = 5
          timeout_seconds   = 3
          failure_threshold = 12
          http_get {
            path = startup_probe.value
          }
        }
      }

      dynamic "liveness_probe" {
        for_each = each.value.public ? [local.health.liveness] : []
        content {
          period_seconds    = 30
          timeout_seconds   = 3
          failure_threshold = 3
          http_get {
            path = liveness_probe.value
          }
        }
      }
    }
  }

  lifecycle {
    ignore_changes = [template[0].containers[0].image, client, client_version]
  }

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_run_v2_service_iam_member" "push_invoker" {
  for_each = local.handlers
  name     = google_cloud_run_v2_service.service[each.key].name
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push_invoker.email}"
}
