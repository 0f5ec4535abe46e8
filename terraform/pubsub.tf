# Topics, dead letters and subscriptions exactly as `convergence bus create-topology`
# (lib/adapters/pubsub_topology.py) creates them: same filter, dead-letter policy, retry
# backoff, ack deadline, retention, and no expiry.

resource "google_pubsub_topic" "topic" {
  for_each                   = local.topics
  name                       = each.key
  message_retention_duration = "${local.defaults.message_retention_seconds}s"
  kms_key_name               = var.kms_key_name
  labels                     = { app = "convergence" }
  depends_on                 = [google_project_service.enabled, google_kms_crypto_key_iam_member.cmek]
}

resource "google_pubsub_topic" "dead_letter" {
  for_each                   = local.dead_letter_topics
  name                       = each.key
  message_retention_duration = "${local.defaults.message_retention_seconds}s"
  kms_key_name               = var.kms_key_name
  labels                     = { app = "convergence", role = "dead-letter" }
  depends_on                 = [google_project_service.enabled, google_kms_crypto_key_iam_member.cmek]
}

# Dead letters wait here until `convergence replay` moves them back to their topic.
resource "google_pubsub_subscription" "dead_letter_hold" {
  for_each                   = local.dead_letter_topics
  name                       = each.value.dead_letter_subscription
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  ack_deadline_seconds       = local.defaults.hold_ack_deadline_seconds
  message_retention_duration = "${local.defaults.message_retention_seconds}s"
  labels                     = { app = "convergence", role = "dead-letter" }

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "handler" {
  for_each                   = local.subscriptions
  name                       = each.key
  topic                      = google_pubsub_topic.topic[each.value.topic].id
  filter                     = each.value.filter
  ack_deadline_seconds       = local.defaults.ack_deadline_seconds
  message_retention_duration = "${local.defaults.message_retention_seconds}s"
  labels                     = { app = "convergence", handler = each.value.handler }

  push_config {
    push_endpoint = google_cloud_run_v2_service.service[each.value.handler].uri
    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloud_run_v2_service.service[each.value.handler].uri
    }
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[local.topics[each.value.topic].dead_letter_topic].id
    max_delivery_attempts = local.defaults.max_delivery_attempts
  }

  retry_policy {
    minimum_backoff = "${local.defaults.min_backoff_seconds}s"
    maximum_backoff = "${local.defaults.max_backoff_seconds}s"
  }

  expiration_policy {
    ttl = ""
  }
}

# Pub/Sub's service agent must publish dead letters and ack the source subscriptions.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.dead_letter_topics
  topic    = google_pubsub_topic.dead_letter[each.key].id
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = local.subscriptions
  subscription = google_pubsub_subscription.handler[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
