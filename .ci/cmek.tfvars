# checkov's second pass over terraform/ (nox -s infra): the deployment with CMEK switched on.
project      = "checkov"
image        = "europe-west1-docker.pkg.dev/checkov/convergence/convergence:ci"
kms_key_name = "projects/checkov/locations/europe-west1/keyRings/convergence/cryptoKeys/data"
