output "service_urls" {
  description = "Cloud Run URL of every handler and the API."
  value       = { for k, s in google_cloud_run_v2_service.service : k => s.uri }
}
