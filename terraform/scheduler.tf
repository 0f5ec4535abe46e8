# One job per tenant × pipeline with a schedule, from schedules.json (`convergence schedules export`).
resource "google_cloud_scheduler_job" "pipeline" {
  for_each  = { for j in local.schedules.jobs : j.name => j }
  name      = each.key
  region    = var.region
  schedule  = each.value.cron
  time_zone = each.value.time_zone

  pubsub_target {
    topic_name = google_pubsub_topic.topic[each.value.topic].id
    data       = each.value.data_base64
    attributes = each.value.attributes
  }

  depends_on = [google_project_service.enabled, google_pubsub_topic_iam_member.scheduler_publish]
}
