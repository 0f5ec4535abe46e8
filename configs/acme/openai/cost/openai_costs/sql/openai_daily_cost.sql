-- Daily OpenAI cost per project and line item for the run's window (BigQuery SQL).
SELECT
  DATE(bucket_start_time) AS usage_date,
  project_id,
  line_item,
  CAST(SUM(amount_value) AS NUMERIC) AS cost,
  UPPER(ANY_VALUE(amount_currency)) AS currency,
  @run_id AS pipeline_logging_id
FROM raw_openai.costs
WHERE DATE(bucket_start_time) BETWEEN @window_start AND @window_end
GROUP BY usage_date, project_id, line_item
