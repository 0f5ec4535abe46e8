-- FOCUS export rows (AWS, Azure, any FOCUS 1.0–1.2 file) → silver FOCUS 1.2 (BigQuery SQL).
-- The files are FOCUS already: columns map one to one. An older FOCUS version's gaps are filled
-- as FOCUS 1.2 defines them: ServiceSubcategory "Other (<ServiceCategory>)", the provisional
-- InvoiceId {BillingAccountId}-{YYYYMM} when the export names no invoice. The provider's own
-- columns stay in x_extensions, as delivered. @provider: the slice this step owns (its
-- replace_scope); @dates: the charge days this run re-derives. The pricing-currency columns
-- (PricingCurrency…, conditional in FOCUS 1.2) stay in raw: silver is in BillingCurrency.
-- Mapping: docs/focus_mapping.md#focus-file-sources
SELECT
  BilledCost,
  EffectiveCost,
  ListCost,
  ContractedCost,
  ListUnitPrice,
  ContractedUnitPrice,
  BillingCurrency,
  BillingPeriodStart,
  BillingPeriodEnd,
  ChargePeriodStart,
  ChargePeriodEnd,
  ChargeCategory,
  ChargeClass,
  ChargeDescription,
  ChargeFrequency,
  ServiceName,
  ServiceCategory,
  IFNULL(ServiceSubcategory, CONCAT('Other (', ServiceCategory, ')')) AS ServiceSubcategory,
  ProviderName,
  PublisherName,
  InvoiceIssuerName,
  IFNULL(
    InvoiceId, CONCAT(BillingAccountId, '-', FORMAT_TIMESTAMP('%Y%m', BillingPeriodStart))
  ) AS InvoiceId,
  BillingAccountId,
  BillingAccountName,
  BillingAccountType,
  SubAccountId,
  SubAccountName,
  SubAccountType,
  ConsumedQuantity,
  ConsumedUnit,
  PricingQuantity,
  PricingUnit,
  PricingCategory,
  CommitmentDiscountCategory,
  CommitmentDiscountId,
  CommitmentDiscountName,
  CommitmentDiscountQuantity,
  CommitmentDiscountStatus,
  CommitmentDiscountType,
  CommitmentDiscountUnit,
  CapacityReservationId,
  CapacityReservationStatus,
  SkuId,
  SkuPriceId,
  SkuMeter,
  SkuPriceDetails,
  RegionId,
  RegionName,
  AvailabilityZone,
  ResourceId,
  ResourceName,
  ResourceType,
  Tags,
  @provider AS x_provider,
  DATE(ChargePeriodStart) AS x_charge_date,
  CAST(NULL AS STRING) AS x_model,
  SkuMeter AS x_usage_type,
  CAST(NULL AS STRING) AS x_service_tier,
  x_extensions,
  row_key AS x_source_row_key,
  @run_id AS x_pipeline_logging_id
FROM raw_focus.charges
WHERE provider = @provider
  AND DATE(ChargePeriodStart) IN UNNEST(@dates)
