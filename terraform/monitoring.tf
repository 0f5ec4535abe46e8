# Cloud Monitoring: what the on-call engineer is paged for and looks at (docs/operations.md).
#
# Metrics are log-based, not OpenTelemetry metrics: every run transition and step record is
# already logged once as structured JSON (lib/metadata.py: jsonPayload.event "run.recorded" /
# "step.recorded" with statuses, duration, rows and DQ counts), Cloud Logging ingests it with
# no exporter to run or pay for, and the metric is exactly the record the warehouse holds.
# Dead-letter backlog, Cloud Run 5xx and BigQuery bytes billed are built-in metrics.
#
# Alerts go to var.alert_notification_channels (existing channel ids) and to one email channel
# per address in var.alert_emails.

locals {
  log_payload = "resource.type=\"cloud_run_revision\" AND jsonPayload.event="
  alert_channels = concat(
    var.alert_notification_channels,
    [for e in var.alert_emails : google_monitoring_notification_channel.email[e].id],
  )
  dead_letter_holds = [for t in local.topology.topics : t.dead_letter_subscription if t.dead_letter_subscription != null]
  runbook           = "Runbook: docs/operations.md in the Convergence repository."
}

resource "google_monitoring_notification_channel" "email" {
  for_each     = toset(var.alert_emails)
  display_name = "Convergence on-call ${each.key}"
  type         = "email"
  labels       = { email_address = each.key }
  depends_on   = [google_project_service.enabled]
}

# --- log-based metrics ----------------------------------------------------------------------

resource "google_logging_metric" "runs" {
  name        = "convergence/runs"
  description = "Run status transitions (REQUESTED, RUNNING, COMPLETE, FAILED) by tenant and pipeline."
  filter      = "${local.log_payload}\"run.recorded\""
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Convergence run transitions"
    labels {
      key = "status"
    }
    labels {
      key = "tenant_id"
    }
    labels {
      key = "pipeline_id"
    }
  }
  label_extractors = {
    status      = "EXTRACT(jsonPayload.run_status)"
    tenant_id   = "EXTRACT(jsonPayload.tenant_id)"
    pipeline_id = "EXTRACT(jsonPayload.pipeline_id)"
  }
  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "step_duration" {
  name            = "convergence/step_duration"
  description     = "Duration of each finished step attempt (COMPLETE, FAILED, RETRYING), in ms."
  filter          = "${local.log_payload}\"step.recorded\" AND jsonPayload.step_status!=\"RUNNING\""
  value_extractor = "EXTRACT(jsonPayload.duration_ms)"
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "Convergence step duration"
    labels {
      key = "step_type"
    }
    labels {
      key = "status"
    }
    labels {
      key = "pipeline_id"
    }
  }
  label_extractors = {
    step_type   = "EXTRACT(jsonPayload.step_type)"
    status      = "EXTRACT(jsonPayload.step_status)"
    pipeline_id = "EXTRACT(jsonPayload.pipeline_id)"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 2
      scale              = 10
    }
  }
  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "step_rows" {
  name            = "convergence/step_rows"
  description     = "Rows each completed step loaded, checked or wrote."
  filter          = "${local.log_payload}\"step.recorded\" AND jsonPayload.step_status=\"COMPLETE\""
  value_extractor = "EXTRACT(jsonPayload.rows)"
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "1"
    display_name = "Convergence step rows"
    labels {
      key = "step_type"
    }
    labels {
      key = "pipeline_id"
    }
  }
  label_extractors = {
    step_type   = "EXTRACT(jsonPayload.step_type)"
    pipeline_id = "EXTRACT(jsonPayload.pipeline_id)"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 30
      growth_factor      = 2
      scale              = 1
    }
  }
  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "dq_critical_failures" {
  name        = "convergence/dq_critical_failures"
  description = "DQ steps that found critical failures, by tenant and pipeline."
  filter      = "${local.log_payload}\"step.recorded\" AND jsonPayload.step_type=\"dq\" AND jsonPayload.dq_critical_failures>0"
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Convergence DQ critical failures"
    labels {
      key = "tenant_id"
    }
    labels {
      key = "pipeline_id"
    }
  }
  label_extractors = {
    tenant_id   = "EXTRACT(jsonPayload.tenant_id)"
    pipeline_id = "EXTRACT(jsonPayload.pipeline_id)"
  }
  depends_on = [google_project_service.enabled]
}

# --- alert policies -------------------------------------------------------------------------

resource "google_monitoring_alert_policy" "failed_runs" {
  display_name          = "Convergence: a run failed"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.alert_channels
  conditions {
    display_name = "FAILED run transitions, per tenant and pipeline"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.runs.name}\" AND resource.type=\"cloud_run_revision\" AND metric.label.status=\"FAILED\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.tenant_id", "metric.label.pipeline_id"]
      }
      trigger {
        count = 1
      }
    }
  }
  alert_strategy {
    auto_close = "86400s"
  }
  documentation {
    mime_type = "text/markdown"
    content   = "A run ended FAILED (tenant and pipeline in the incident's labels). The tenant's notify channels got the reason. Find it: `convergence runs --tenant T --status FAILED --since 24h`, then `convergence status RUN --tenant T` (timeline, error and cause, trace id). Fix the cause, start the window again with `convergence run`. ${local.runbook}"
  }
  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "dq_critical" {
  display_name          = "Convergence: critical DQ failure"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.alert_channels
  conditions {
    display_name = "DQ steps with critical failures, per tenant and pipeline"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.dq_critical_failures.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.tenant_id", "metric.label.pipeline_id"]
      }
      trigger {
        count = 1
      }
    }
  }
  alert_strategy {
    auto_close = "86400s"
  }
  documentation {
    mime_type = "text/markdown"
    content   = "A DQ step found critical failures: the run stopped (on_failure: stop) or went on with an alert. `convergence status RUN --tenant T` lists the failed expectations; their rows are in {tenant}_metadata.dq_results. ${local.runbook}"
  }
  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "dead_letters" {
  display_name          = "Convergence: messages in a dead-letter queue"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.alert_channels
  conditions {
    display_name = "Undelivered messages on a dead-letter hold subscription"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=one_of(${join(", ", [for s in local.dead_letter_holds : "\"${s}\""])})"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.subscription_id"]
      }
      trigger {
        count = 1
      }
    }
  }
  alert_strategy {
    auto_close = "86400s"
  }
  documentation {
    mime_type = "text/markdown"
    content   = "Events exhausted their delivery attempts (a provider or warehouse outage) or were dead-lettered at once (poison, an undeliverable notification). `convergence replay --dry-run` lists them with their reasons; fix the cause, then `convergence replay [--tenant T]`. ${local.runbook}"
  }
  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "run_5xx" {
  display_name          = "Convergence: Cloud Run 5xx rate above ${var.run_5xx_ratio_threshold * 100}%"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.alert_channels
  conditions {
    display_name = "5xx responses / all responses, per Convergence service"
    condition_threshold {
      filter             = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.label.service_name=starts_with(\"convergence-\") AND metric.label.response_code_class=\"5xx\""
      denominator_filter = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.label.service_name=starts_with(\"convergence-\")"
      comparison         = "COMPARISON_GT"
      threshold_value    = var.run_5xx_ratio_threshold
      duration           = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      trigger {
        count = 1
      }
    }
  }
  alert_strategy {
    auto_close = "86400s"
  }
  documentation {
    mime_type = "text/markdown"
    content   = "A handler answering 5xx is a delivery Pub/Sub will retry (a transient fault: provider 429/5xx, warehouse unavailable) or a bug; the API answering 5xx fails its callers. Error Reporting groups the stacks; the logs carry the run's labels and trace. ${local.runbook}"
  }
  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "bigquery_bytes_billed" {
  display_name          = "Convergence: BigQuery bytes billed above ${var.bigquery_bytes_billed_threshold} per ${var.bigquery_bytes_billed_window_seconds}s"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.alert_channels
  conditions {
    display_name = "Bytes billed by BigQuery queries in the project"
    condition_threshold {
      filter          = "metric.type=\"bigquery.googleapis.com/query/scanned_bytes_billed\" AND resource.type=\"global\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.bigquery_bytes_billed_threshold
      duration        = "0s"
      aggregations {
        alignment_period     = "${var.bigquery_bytes_billed_window_seconds}s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }
  alert_strategy {
    auto_close = "86400s"
  }
  documentation {
    mime_type = "text/markdown"
    content   = "BigQuery billed more bytes than the budget variable allows. Each statement's bytes billed are on its trace span (db.bytes_billed) and each step record's metadata (bytes_billed): `convergence status RUN` shows them per step. A backfill over a long window or a query missing its partition filter are the usual causes. ${local.runbook}"
  }
  depends_on = [google_project_service.enabled]
}

# --- dashboard ------------------------------------------------------------------------------

locals {
  # One line chart per tile: what it plots and how the series are aligned and grouped.
  dashboard_charts = [
    {
      title  = "Runs by status", x = 0, y = 0, width = 6, plot = "STACKED_BAR"
      filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.runs.name}\" AND resource.type=\"cloud_run_revision\""
      period = "3600s", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group_by = ["metric.label.status"]
    },
    {
      title  = "Step durations (p95, ms)", x = 6, y = 0, width = 6, plot = "LINE"
      filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.step_duration.name}\" AND resource.type=\"cloud_run_revision\""
      period = "3600s", aligner = "ALIGN_DELTA", reducer = "REDUCE_PERCENTILE_95", group_by = ["metric.label.step_type"]
    },
    {
      title  = "Rows per completed step (mean)", x = 0, y = 4, width = 6, plot = "LINE"
      filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.step_rows.name}\" AND resource.type=\"cloud_run_revision\""
      period = "3600s", aligner = "ALIGN_DELTA", reducer = "REDUCE_MEAN", group_by = ["metric.label.pipeline_id"]
    },
    {
      title  = "Dead-letter backlog (messages)", x = 6, y = 4, width = 6, plot = "STACKED_AREA"
      filter = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=one_of(${join(", ", [for s in local.dead_letter_holds : "\"${s}\""])})"
      period = "300s", aligner = "ALIGN_MAX", reducer = "REDUCE_SUM", group_by = ["resource.label.subscription_id"]
    },
    {
      title  = "Cloud Run responses by class", x = 0, y = 8, width = 12, plot = "STACKED_BAR"
      filter = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.label.service_name=starts_with(\"convergence-\")"
      period = "300s", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group_by = ["resource.label.service_name", "metric.label.response_code_class"]
    },
  ]
}

resource "google_monitoring_dashboard" "operations" {
  dashboard_json = jsonencode({
    displayName = "Convergence operations"
    mosaicLayout = {
      columns = 12
      tiles = [for c in local.dashboard_charts : {
        xPos = c.x, yPos = c.y, width = c.width, height = 4
        widget = {
          title = c.title
          xyChart = {
            dataSets = [{
              plotType = c.plot
              timeSeriesQuery = { timeSeriesFilter = {
                filter      = c.filter
                aggregation = { alignmentPeriod = c.period, perSeriesAligner = c.aligner, crossSeriesReducer = c.reducer, groupByFields = c.group_by }
              } }
            }]
          }
        }
      }]
    }
  })
  depends_on = [google_project_service.enabled]
}
