-- Google Cloud billing export → FOCUS 1.2 rows, one per export row (BigQuery SQL).
-- BilledCost = cost + SUM(credits.amount); ChargeCategory from cost_type; a reversal (a
-- regular row with negative cost) and the rows exported with it for the same usage hour,
-- SKU and project are ChargeClass = Correction. @dates are the usage days this run re-derives:
-- its window plus every day whose export rows changed since silver last ran (late rows and
-- corrections weeks later included), so every such day is rebuilt from all of its raw rows.
-- Mapping: docs/focus_mapping.md#google-cloud
WITH export_rows AS (
  SELECT
    *,
    DATE(usage_start_time) AS charge_date,
    cost + IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0) AS net_cost,
    CASE cost_type
      WHEN 'regular' THEN 'Usage'
      WHEN 'tax' THEN 'Tax'
      ELSE 'Adjustment'
    END AS charge_category
  FROM raw_gcp.billing_export
  WHERE DATE(usage_start_time) IN UNNEST(@dates)
),
classified AS (
  SELECT
    *,
    LOGICAL_OR(cost_type = 'regular' AND cost < 0) OVER (
      PARTITION BY billing_account_id, project.id, sku.id, usage_start_time, export_time
    ) AS is_correction
  FROM export_rows
),
-- Tags: the row's labels, plus its project's labels whose key no row label has (exactly
-- `p.key NOT IN (row label keys)`, NULL keys included), as one JSON object per row_key (raw's
-- unique key). Unnested once and aggregated, not a subquery per row: an engine decorrelates
-- that subquery into a join keyed on the whole labels list.
tag_pairs AS (
  SELECT e.row_key, l.key, l.value, FALSE AS from_project
  FROM export_rows AS e, UNNEST(e.labels) AS l
  UNION ALL
  SELECT e.row_key, p.key, p.value, TRUE AS from_project
  FROM (SELECT row_key, project.labels AS project_labels FROM export_rows) AS e,
    UNNEST(e.project_labels) AS p
),
kept_pairs AS (
  SELECT row_key, key, value
  FROM tag_pairs
  WHERE TRUE
  QUALIFY NOT from_project
    OR LOGICAL_AND(from_project) OVER (PARTITION BY row_key)
    OR (
      key IS NOT NULL
      AND NOT LOGICAL_OR(NOT from_project AND key IS NULL) OVER (PARTITION BY row_key)
      AND LOGICAL_AND(from_project) OVER (PARTITION BY row_key, key)
    )
),
tags AS (
  SELECT
    row_key,
    CONCAT('{', STRING_AGG(
      CONCAT(TO_JSON_STRING(key), ':', TO_JSON_STRING(value)), ',' ORDER BY key
    ), '}') AS tags_text
  FROM kept_pairs
  GROUP BY row_key
),
mapped AS (
  SELECT
    classified.*,
    tags.tags_text,
    CASE service.description
      WHEN 'Compute Engine' THEN 'Compute'
      WHEN 'BigQuery' THEN 'Analytics'
      WHEN 'Cloud Storage' THEN 'Storage'
      WHEN 'Vertex AI' THEN 'AI and Machine Learning'
      ELSE 'Other'
    END AS service_category,
    CASE service.description
      WHEN 'Compute Engine' THEN 'Virtual Machines'
      WHEN 'BigQuery' THEN 'Data Processing'
      WHEN 'Cloud Storage' THEN 'Object Storage'
      WHEN 'Vertex AI' THEN 'Generative AI'
      ELSE 'Other (Other)'
    END AS service_subcategory,
    -- Google's unit names in FOCUS UnitFormat (unknown units pass through unchanged).
    CASE usage.unit
      WHEN 'seconds' THEN 'Seconds'
      WHEN 'byte-seconds' THEN 'B-Seconds'
      WHEN 'bytes' THEN 'B'
      WHEN 'count' THEN 'Count'
      WHEN 'requests' THEN 'Requests'
      ELSE usage.unit
    END AS consumed_unit,
    CASE usage.pricing_unit
      WHEN 'hour' THEN 'Hours'
      WHEN 'month' THEN 'Months'
      WHEN 'gibibyte' THEN 'GiB'
      WHEN 'tebibyte' THEN 'TiB'
      WHEN 'gibibyte hour' THEN 'GiB-Hours'
      WHEN 'gibibyte month' THEN 'GiB-Months'
      WHEN 'count' THEN 'Count'
      WHEN 'requests' THEN 'Requests'
      ELSE usage.pricing_unit
    END AS pricing_unit
  FROM classified
  LEFT JOIN tags USING (row_key)
)
SELECT
  CAST(net_cost AS BIGNUMERIC) AS BilledCost,
  CAST(net_cost AS BIGNUMERIC) AS EffectiveCost,
  CAST(IFNULL(cost_at_list, cost) AS BIGNUMERIC) AS ListCost,
  CAST(cost AS BIGNUMERIC) AS ContractedCost,
  currency AS BillingCurrency,
  TIMESTAMP(PARSE_DATE('%Y%m', invoice.month)) AS BillingPeriodStart,
  TIMESTAMP(DATE_ADD(PARSE_DATE('%Y%m', invoice.month), INTERVAL 1 MONTH)) AS BillingPeriodEnd,
  usage_start_time AS ChargePeriodStart,
  usage_end_time AS ChargePeriodEnd,
  charge_category AS ChargeCategory,
  IF(is_correction, 'Correction', NULL) AS ChargeClass,
  IFNULL(adjustment_info.description, sku.description) AS ChargeDescription,
  IF(cost_type IN ('regular', 'tax'), 'Usage-Based', 'One-Time') AS ChargeFrequency,
  service.description AS ServiceName,
  service_category AS ServiceCategory,
  service_subcategory AS ServiceSubcategory,
  'Google Cloud' AS ProviderName,
  'Google Cloud' AS PublisherName,
  'Google Cloud' AS InvoiceIssuerName,
  CONCAT(billing_account_id, '-', invoice.month) AS InvoiceId,
  billing_account_id AS BillingAccountId,
  CAST(NULL AS STRING) AS BillingAccountName,
  project.id AS SubAccountId,
  IF(project.id IS NULL, NULL, IFNULL(project.name, project.id)) AS SubAccountName,
  IF(charge_category = 'Usage', CAST(usage.amount AS NUMERIC), NULL) AS ConsumedQuantity,
  IF(charge_category = 'Usage', consumed_unit, NULL) AS ConsumedUnit,
  IF(charge_category = 'Usage', CAST(usage.amount_in_pricing_units AS NUMERIC), NULL)
    AS PricingQuantity,
  IF(charge_category = 'Usage', pricing_unit, NULL) AS PricingUnit,
  IF(charge_category = 'Usage', 'Standard', NULL) AS PricingCategory,
  CAST(NULL AS STRING) AS CommitmentDiscountStatus,
  IF(charge_category = 'Tax', NULL, sku.id) AS SkuId,
  IF(charge_category = 'Usage', sku.id, NULL) AS SkuPriceId,
  IF(charge_category = 'Tax', NULL, sku.description) AS SkuMeter,
  location.region AS RegionId,
  location.region AS RegionName,
  location.zone AS AvailabilityZone,
  CAST(NULL AS STRING) AS ResourceId,
  CAST(NULL AS STRING) AS ResourceName,
  CAST(NULL AS STRING) AS ResourceType,
  PARSE_JSON(tags_text) AS Tags,
  'gcp' AS x_provider,
  charge_date AS x_charge_date,
  CAST(NULL AS STRING) AS x_model,
  cost_type AS x_usage_type,
  CAST(NULL AS STRING) AS x_service_tier,
  row_key AS x_source_row_key,
  @run_id AS x_pipeline_logging_id
FROM mapped
